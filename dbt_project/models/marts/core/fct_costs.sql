{{
    config(
        materialized='incremental',
        incremental_strategy='window_replace',
        window_column='charge_period_start',
        on_schema_change='fail',
        pre_hook="{{ set_run_partition_floor() }}",
        indexes=[
            {'columns': ['x_cost_id'], 'unique': true},
            {'columns': ['charge_period_start']},
            {'columns': ['x_source_system', 'charge_period_start']},
        ],
        post_hook="{{ timescale_fact_table(
            'charge_period_start', 'x_cost_id', 'x_source_system',
            'timescale_costs_chunk_interval'
        ) }}",
    )
}}

{#-
    The cost ledger: every cost from every source, one row per charge, FOCUS 1.2 columns
    plus the taxonomy as x_ columns, from int_costs__unioned (every model listed in
    macros/cost_source_models.sql).

    Attribution, per taxonomy column, first answer wins: the source's own hint (an AI
    request's project), a tag mapped by seeds/tag_mappings.csv (most specific rule first),
    the account the charge belongs to in seeds/source_mappings.csv (key_name
    resource_group_id, an Azure resource group's id in lower case; then sub_account_id;
    then billing_account_id), the team's department in seeds/teams.csv, and
    last the explicit bucket 'unallocated'. A charge is never dropped for want of a tag.
-#}

with

cost_sources as (

    select * from {{ ref('int_costs__unioned') }}
    {%- if is_incremental() %}
        where {{ in_run_window('charge_period_start') }}
    {%- endif %}

),

tag_rules as (

    select
        lower(tag_key) as tag_key,
        lower(tag_value) as tag_value,
        provider_name,
        dimension,
        nullif(mapped_value, '') as mapped_value,
        -- Most specific first: a rule for one provider beats one for any, a rule for one
        -- value beats one for any value.
        (case when provider_name = '*' then 2 else 0 end)
        + (case when tag_value = '*' then 1 else 0 end) as specificity
    from {{ ref('tag_mappings') }}

),

tag_matches as (

    select
        charges.x_cost_id,
        rules.dimension,
        (array_agg(
            coalesce(rules.mapped_value, lower(charge_tags.tag_value))
            order by rules.specificity asc, charge_tags.tag_key asc
        ))[1] as mapped_value
    from cost_sources as charges
    cross join
        lateral jsonb_each_text(coalesce(charges.tags, '{}'::jsonb))
            as charge_tags (tag_key, tag_value)
    inner join tag_rules as rules
        on
            lower(charge_tags.tag_key) = rules.tag_key
            and (rules.tag_value = '*' or lower(charge_tags.tag_value) = rules.tag_value)
            and (rules.provider_name = '*' or charges.provider_name = rules.provider_name)
    where charge_tags.tag_value != ''
    group by charges.x_cost_id, rules.dimension

),

tagged as (

    select
        x_cost_id,
        max(mapped_value) filter (where dimension = 'department') as department,
        max(mapped_value) filter (where dimension = 'team') as team,
        max(mapped_value) filter (where dimension = 'project') as project,
        max(mapped_value) filter (where dimension = 'customer') as customer,
        max(mapped_value) filter (where dimension = 'feature') as feature,
        max(mapped_value) filter (where dimension = 'cost_category') as cost_category,
        max(mapped_value) filter (where dimension = 'environment') as environment
    from tag_matches
    group by x_cost_id

),

account_mappings as (

    select
        source_system,
        key_name,
        key_value,
        nullif(department, '') as department,
        nullif(team, '') as team,
        nullif(project, '') as project,
        nullif(environment, '') as environment
    from {{ ref('source_mappings') }}
    where key_name in ('resource_group_id', 'sub_account_id', 'billing_account_id')

),

attributed as (

    select
        charges.*,
        coalesce(
            charges.x_team,
            tagged.team,
            resource_group.team,
            sub_account.team,
            billing_account.team
        ) as resolved_team,
        coalesce(
            charges.x_department,
            tagged.department,
            resource_group.department,
            sub_account.department,
            billing_account.department
        ) as resolved_department,
        coalesce(
            charges.x_project,
            tagged.project,
            resource_group.project,
            sub_account.project,
            billing_account.project
        ) as resolved_project,
        coalesce(
            charges.x_environment,
            tagged.environment,
            resource_group.environment,
            sub_account.environment,
            billing_account.environment
        ) as resolved_environment,
        coalesce(charges.x_customer, tagged.customer) as resolved_customer,
        coalesce(charges.x_feature, tagged.feature) as resolved_feature,
        coalesce(charges.x_cost_category, tagged.cost_category) as resolved_cost_category
    from cost_sources as charges
    left join tagged
        on charges.x_cost_id = tagged.x_cost_id
    left join account_mappings as resource_group
        on
            charges.x_source_system = resource_group.source_system
            and resource_group.key_name = 'resource_group_id'
            and lower(
                '/subscriptions/' || charges.sub_account_id
                || '/resourcegroups/' || (charges.tags ->> 'x_ResourceGroupName')
            ) = resource_group.key_value
    left join account_mappings as sub_account
        on
            charges.x_source_system = sub_account.source_system
            and sub_account.key_name = 'sub_account_id'
            and charges.sub_account_id = sub_account.key_value
    left join account_mappings as billing_account
        on
            charges.x_source_system = billing_account.source_system
            and billing_account.key_name = 'billing_account_id'
            and charges.billing_account_id = billing_account.key_value

),

service_categories as (

    select * from {{ ref('service_categories') }}

),

teams as (

    select * from {{ ref('teams') }}

),

final as (

    select
        attributed.x_cost_id,
        attributed.x_source_system,
        attributed.billing_account_id,
        attributed.billing_account_name,
        attributed.billing_account_type,
        attributed.billing_currency,
        attributed.billing_period_start,
        attributed.billing_period_end,
        attributed.sub_account_id,
        attributed.sub_account_name,
        attributed.sub_account_type,
        attributed.invoice_id,
        attributed.invoice_issuer_name,
        attributed.provider_name,
        attributed.publisher_name,
        attributed.charge_category,
        attributed.charge_class,
        attributed.charge_description,
        attributed.charge_frequency,
        attributed.charge_period_start,
        attributed.charge_period_end,
        coalesce(
            attributed.service_category, service_categories.service_category, 'Other'
        ) as service_category,
        coalesce(
            attributed.service_subcategory, service_categories.service_subcategory
        ) as service_subcategory,
        attributed.service_name,
        attributed.billed_cost,
        attributed.effective_cost,
        attributed.list_cost,
        attributed.contracted_cost,
        attributed.list_unit_price,
        attributed.contracted_unit_price,
        attributed.pricing_category,
        attributed.pricing_quantity,
        attributed.pricing_unit,
        attributed.consumed_quantity,
        attributed.consumed_unit,
        attributed.sku_id,
        attributed.sku_price_id,
        attributed.sku_meter,
        attributed.resource_id,
        attributed.resource_name,
        attributed.resource_type,
        attributed.region_id,
        attributed.region_name,
        attributed.availability_zone,
        attributed.commitment_discount_id,
        attributed.commitment_discount_name,
        attributed.commitment_discount_type,
        attributed.commitment_discount_category,
        attributed.commitment_discount_status,
        coalesce(attributed.tags, '{}'::jsonb) as tags,
        coalesce(
            attributed.resolved_department, teams.department, 'unallocated'
        ) as x_department,
        coalesce(attributed.resolved_team, 'unallocated') as x_team,
        coalesce(attributed.x_user_email, 'unallocated') as x_user_email,
        coalesce(attributed.resolved_project, 'unallocated') as x_project,
        coalesce(attributed.resolved_customer, 'unallocated') as x_customer,
        coalesce(attributed.resolved_feature, 'unallocated') as x_feature,
        coalesce(attributed.resolved_cost_category, 'unallocated') as x_cost_category,
        coalesce(attributed.resolved_environment, 'unallocated') as x_environment,
        coalesce(attributed.x_estimated, false) as x_estimated
    from attributed
    left join service_categories
        on
            attributed.provider_name = service_categories.provider_name
            and attributed.service_name = service_categories.service_name
    left join teams
        on attributed.resolved_team = teams.team

)

select * from final
