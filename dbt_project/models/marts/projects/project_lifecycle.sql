{#-
    A project's life from R&D to production, what each phase cost and earned: one row
    per project, phase and scope. Scope own counts the project alone; with_sub_projects
    adds every project below it in projects.csv (its children, their children...), the
    days sorted into the parent's phases. Days outside every phase of the project
    (before its first) land in phase 'unallocated', so the phases of a project add up to
    all it cost.

    Engineer time is hours from time entries where a source provides them, else estimated
    from Claude Code sessions; engineer_time_basis says which (mixed when both). The
    margin is revenue less every cost the row shows (AI tools, engineer time,
    infrastructure, AI in production).
-#}

with

projects as (

    select * from {{ ref('projects') }}

),

phases as (

    select * from {{ ref('project_phases') }}

),

scoped as (

    select * from {{ ref('int_project_scoped_daily') }}

),

phased as (

    select
        scoped.*,
        coalesce(phases.phase, 'unallocated') as phase,
        phases.started_on as phase_started_on,
        phases.ended_on as phase_ended_on
    from scoped
    left join phases
        on
            scoped.owner = phases.project
            and scoped.day >= phases.started_on
            and (phases.ended_on is null or scoped.day < phases.ended_on)

),

engineers as (

    select
        phased.scope,
        phased.owner,
        phased.phase,
        count(distinct engineer) as engineers
    from phased
    cross join lateral unnest(string_to_array(nullif(phased.engineers, ''), ',')) as engineer
    group by 1, 2, 3

),

totals as (

    select
        scope,
        owner as project,
        phase,
        min(phase_started_on) as phase_started_on,
        max(phase_ended_on) as phase_ended_on,
        sum(ai_tool_cost_usd) as ai_tool_cost_usd,
        sum(engineer_hours) as engineer_hours,
        sum(estimated_engineer_hours) as estimated_engineer_hours,
        sum(engineer_time_cost_usd) as engineer_time_cost_usd,
        sum(infrastructure_cost_usd) as infrastructure_cost_usd,
        sum(customer_requests) as customer_requests,
        sum(production_ai_cost_usd) as production_ai_cost_usd,
        sum(revenue_usd) as attributed_revenue_usd
    from phased
    group by 1, 2, 3

),

final as (

    select
        totals.project,
        projects.name,
        coalesce(nullif(projects.parent_project, ''), 'none') as parent_project,
        totals.scope,
        totals.phase,
        totals.phase_started_on,
        totals.phase_ended_on,
        coalesce(engineers.engineers, 0) as engineers,
        round(totals.ai_tool_cost_usd, 2) as ai_tool_cost_usd,
        round(totals.engineer_hours, 2) as engineer_hours,
        round(totals.engineer_time_cost_usd, 2) as engineer_time_cost_usd,
        case
            when totals.engineer_hours = 0 then 'none'
            when totals.estimated_engineer_hours = 0 then 'time_entries'
            when totals.estimated_engineer_hours = totals.engineer_hours
                then 'estimated_from_sessions'
            else 'mixed'
        end as engineer_time_basis,
        round(totals.infrastructure_cost_usd, 2) as infrastructure_cost_usd,
        totals.customer_requests::bigint as customer_requests,
        round(totals.production_ai_cost_usd, 2) as production_ai_cost_usd,
        round(totals.attributed_revenue_usd, 2) as attributed_revenue_usd,
        round(
            totals.attributed_revenue_usd
            - totals.ai_tool_cost_usd
            - totals.engineer_time_cost_usd
            - totals.infrastructure_cost_usd
            - totals.production_ai_cost_usd,
            2
        ) as margin_usd
    from totals
    inner join projects
        on totals.project = projects.project
    left join engineers
        on
            totals.scope = engineers.scope
            and totals.project = engineers.owner
            and totals.phase = engineers.phase

)

select * from final
