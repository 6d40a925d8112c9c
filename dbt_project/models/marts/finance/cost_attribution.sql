{{
    config(
        indexes=[
            {'columns': ['x_cost_id'], 'unique': true},
            {'columns': ['charge_day']},
            {'columns': ['project', 'charge_day']},
        ],
    )
}}

{#-
    Every line of the ledger (fct_costs) with the answers the reading marts need, one row
    per ledger line: in US dollars, a kind of cost, one department, one project and its
    phase on the day, one feature and task class, and one cost category, each
    'unallocated' when unknown. The marts built on it add up rows of this table only, so
    a cost is never lost or counted twice between the ledger and them.

    - Dollars: billed and effective cost times the fx_rates rate in effect on the day.
    - Kind: engineer_time for people's time; ai for AI and Machine Learning services
      (AI APIs, and AI services inside a cloud bill); infrastructure for Kubernetes
      allocations; saas for monitoring and other subscribed tools (Datadog); cloud for the
      rest.
    - counts_in_totals is false for lines that divide up money another line already
      holds (a Kubernetes node's cost split over its workloads, tag x_allocated_from).
    - Department: the ledger's, else the project's owner (projects.csv).
    - Feature: the ledger's, else the feature the project builds (features.csv), when
      it builds only one.
    - Cost category, first answer wins: the ledger's (a cost_category tag), the first
      cost_category_rules row that matches, the task class's category, the department's
      default, 'unallocated'. cost_category_rule names the answer.
-#}

with

projects as (

    select * from {{ ref('projects') }}

),

project_phases as (

    select * from {{ ref('project_phases') }}

),

-- The feature a project builds, where it builds exactly one: a project with several
-- features cannot say which of them a cost was for.
features as (

    select
        project,
        min(feature) as feature
    from {{ ref('features') }}
    group by project
    having count(*) = 1

),

task_classes as (

    select * from {{ ref('task_classes') }}

),

departments as (

    select * from {{ ref('departments') }}

),

project_tree as (

    select distinct on (descendant)
        descendant as project,
        ancestor as root_project
    from {{ ref('int_project_lineage') }}
    order by descendant asc, depth desc

),

fct_costs as (

    select * from {{ ref('fct_costs') }}

),

fx_rates as (

    select * from {{ ref('int_fx_rates') }}

),

rules as (

    select * from {{ ref('cost_category_rules') }}

),

classified as (

    select
        fct_costs.*,
        (fct_costs.charge_period_start at time zone 'UTC')::date as charge_day,
        case
            when fct_costs.x_source_system = 'engineer_time' then 'engineer_time'
            when fct_costs.service_category = 'AI and Machine Learning' then 'ai'
            when fct_costs.x_source_system = 'kubernetes' then 'infrastructure'
            when fct_costs.x_source_system = 'datadog' then 'saas'
            else 'cloud'
        end as cost_kind,
        not fct_costs.tags ? 'x_allocated_from' as counts_in_totals,
        coalesce(fct_costs.tags ->> 'x_task_class', 'unallocated') as task_class,
        case upper(fct_costs.x_cost_category)
            when 'COGS' then 'COGS'
            when 'OPEX' then 'OpEx'
            when 'R&D' then 'R&D'
        end as stated_category
    from fct_costs

),

enriched as (

    select
        classified.*,
        case
            when classified.x_department != 'unallocated' then classified.x_department
            else coalesce(projects.department, 'unallocated')
        end as department,
        coalesce(project_tree.root_project, classified.x_project) as root_project,
        coalesce(phases.phase, 'unallocated') as project_phase,
        case
            when classified.x_feature != 'unallocated' then classified.x_feature
            else coalesce(features.feature, 'unallocated')
        end as feature,
        classified.billed_cost * fx_rates.usd_per_unit as billed_cost_usd,
        classified.effective_cost * fx_rates.usd_per_unit as effective_cost_usd
    from classified
    left join projects
        on classified.x_project = projects.project
    left join project_tree
        on classified.x_project = project_tree.project
    left join project_phases as phases
        on
            classified.x_project = phases.project
            and classified.charge_day >= phases.started_on
            and (phases.ended_on is null or classified.charge_day < phases.ended_on)
    left join features
        on classified.x_project = features.project
    left join fx_rates
        on
            upper(classified.billing_currency) = fx_rates.currency
            and classified.charge_day >= fx_rates.effective_from
            and (fx_rates.effective_to is null or classified.charge_day < fx_rates.effective_to)

),

categorised as (

    select
        enriched.*,
        first_rule.rule_name,
        first_rule.cost_category as rule_category,
        nullif(task_classes.cost_category, 'unallocated') as task_class_category,
        departments.default_cost_category as department_category
    from enriched
    left join lateral (
        select
            rules.rule_name,
            rules.cost_category
        from rules
        where
            (rules.source_system is null or rules.source_system = enriched.x_source_system)
            and (rules.cost_kind is null or rules.cost_kind = enriched.cost_kind)
            and (
                rules.service_category is null
                or rules.service_category = enriched.service_category
            )
            and (rules.environment is null or rules.environment = enriched.x_environment)
            and (
                rules.project_phase is null
                or rules.project_phase = enriched.project_phase
            )
            and (rules.task_class is null or rules.task_class = enriched.task_class)
        order by rules.priority
        limit 1
    ) as first_rule on true
    left join task_classes
        on enriched.task_class = task_classes.task_class
    left join departments
        on enriched.department = departments.department

),

final as (

    select
        x_cost_id,
        x_source_system,
        provider_name,
        service_category,
        service_name,
        charge_period_start,
        charge_day,
        date_trunc('month', charge_day)::date as charge_month,
        date_trunc('quarter', charge_day)::date as charge_quarter,
        billing_currency,
        billed_cost,
        billed_cost_usd,
        effective_cost_usd,
        consumed_quantity,
        consumed_unit,
        cost_kind,
        counts_in_totals,
        department,
        x_team as team,
        x_project as project,
        root_project,
        project_phase,
        x_environment as environment,
        x_customer as customer,
        feature,
        task_class,
        x_user_email as user_email,
        case
            when stated_category is not null then stated_category
            when rule_category is not null then rule_category
            when task_class_category is not null then task_class_category
            when department_category is not null then department_category
            else 'unallocated'
        end as cost_category,
        case
            when stated_category is not null then 'stated by the source or a tag'
            when rule_category is not null then rule_name
            when task_class_category is not null then 'task class ' || task_class
            when department_category is not null then 'default of department ' || department
            else 'no rule, task class or department'
        end as cost_category_rule,
        x_estimated
    from categorised

)

select * from final
