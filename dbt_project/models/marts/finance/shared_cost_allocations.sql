{{
    config(
        indexes=[
            {'columns': ['x_cost_id']},
            {'columns': ['charge_month', 'target_dimension', 'allocated_resource_id']},
        ],
    )
}}

{#-
    Shared costs handed on to the departments, projects or customers that use them: one
    row per shared ledger line and receiving target, named as FOCUS 1.3's split cost
    allocation columns (allocated_method_id, allocated_method_details,
    allocated_resource_id, allocated_resource_name, allocated_tags).

    - A ledger line is shared when it counts in money totals and matches a pool of
      seeds/shared_cost_pools.csv; the first matching pool by priority takes it.
    - The targets are the pool's dimension's values (department, project or customer)
      with direct cost in the line's month: money of lines that belong to no pool of
      that dimension, more than zero, 'unallocated' never a target. A pool's targets
      column narrows them to the slugs it lists.
    - even: each target the same share. weighted: shares proportional to the targets'
      direct cost in the month.
    - Each share is rounded to a millionth of a dollar and the largest share (ties: the
      first target by slug) takes the remainder, so a line's shares add up to its cost
      exactly.
    - A line whose month has no target stays whole on its own department, project or
      customer (method none, with a note), so nothing is lost.

    The match on tags reads the ledger's tags from fct_costs, which cost_attribution
    leaves out; every amount comes from cost_attribution.
-#}

{%- set share_scale = 6 -%}
{%- set ratio_scale = 10 -%}

with

cost_attribution as (

    select * from {{ ref('cost_attribution') }}
    where counts_in_totals

),

ledger_tags as (

    select
        x_cost_id,
        tags
    from {{ ref('fct_costs') }}

),

pools as (

    select
        priority,
        pool,
        x_source_system,
        cost_kind,
        provider_name,
        service_category,
        service_name,
        department,
        project,
        environment,
        lower(tag_key) as tag_key,
        lower(tag_value) as tag_value,
        target_dimension,
        method,
        regexp_split_to_array(nullif(trim(targets), ''), '\s+') as targets
    from {{ ref('shared_cost_pools') }}

),

dimensions as (

    select target_dimension
    from {{ shared_cost_dimensions() }}

),

-- Each counted line once per dimension, with its own value in that dimension.
attributed as (

    select
        cost_attribution.x_cost_id,
        cost_attribution.charge_month,
        cost_attribution.billed_cost_usd,
        dimensions.target_dimension,
        {{ shared_cost_own_target('cost_attribution', 'dimensions.target_dimension') }}
            as own_target
    from cost_attribution
    cross join dimensions

),

pooled as (

    select
        cost_attribution.x_cost_id,
        cost_attribution.charge_month,
        cost_attribution.cost_category,
        cost_attribution.billed_cost_usd,
        first_pool.pool,
        first_pool.target_dimension,
        first_pool.method,
        first_pool.targets
    from cost_attribution
    left join ledger_tags
        on cost_attribution.x_cost_id = ledger_tags.x_cost_id
    inner join lateral (
        select
            pools.pool,
            pools.target_dimension,
            pools.method,
            pools.targets
        from pools
        where
            (
                pools.x_source_system is null
                or pools.x_source_system = cost_attribution.x_source_system
            )
            and (pools.cost_kind is null or pools.cost_kind = cost_attribution.cost_kind)
            and (
                pools.provider_name is null
                or pools.provider_name = cost_attribution.provider_name
            )
            and (
                pools.service_category is null
                or pools.service_category = cost_attribution.service_category
            )
            and (
                pools.service_name is null
                or pools.service_name = cost_attribution.service_name
            )
            and (pools.department is null or pools.department = cost_attribution.department)
            and (pools.project is null or pools.project = cost_attribution.project)
            and (
                pools.environment is null
                or pools.environment = cost_attribution.environment
            )
            and (
                pools.tag_key is null
                or exists (
                    select 1
                    from
                        jsonb_each_text(coalesce(ledger_tags.tags, '{}'::jsonb))
                            as line_tags (tag_key, tag_value)
                    where
                        lower(line_tags.tag_key) = pools.tag_key
                        and (
                            pools.tag_value is null
                            or lower(line_tags.tag_value) = pools.tag_value
                        )
                )
            )
        order by pools.priority
        limit 1
    ) as first_pool on true

),

direct_costs as (

    select
        attributed.charge_month,
        attributed.target_dimension,
        attributed.own_target as target_id,
        sum(attributed.billed_cost_usd) as direct_cost_usd
    from attributed
    left join pooled
        on
            attributed.x_cost_id = pooled.x_cost_id
            and attributed.target_dimension = pooled.target_dimension
    where
        pooled.x_cost_id is null
        and attributed.own_target != 'unallocated'
    group by attributed.charge_month, attributed.target_dimension, attributed.own_target
    having sum(attributed.billed_cost_usd) > 0

),

candidates as (

    select
        pooled.x_cost_id,
        pooled.charge_month,
        pooled.cost_category,
        pooled.billed_cost_usd,
        pooled.pool,
        pooled.target_dimension,
        pooled.method,
        direct_costs.target_id,
        case pooled.method
            when 'even' then 1::numeric
            else direct_costs.direct_cost_usd
        end as weight
    from pooled
    inner join direct_costs
        on
            pooled.charge_month = direct_costs.charge_month
            and pooled.target_dimension = direct_costs.target_dimension
            and (pooled.targets is null or direct_costs.target_id = any(pooled.targets))

),

weighed as (

    select
        *,
        sum(weight) over same_line as basis_total,
        round(billed_cost_usd * weight / sum(weight) over same_line, {{ share_scale }})
            as rounded_share,
        round(weight / sum(weight) over same_line, {{ ratio_scale }}) as rounded_ratio,
        row_number() over (
            partition by x_cost_id order by weight desc, target_id asc
        ) as share_rank
    from candidates
    window same_line as (partition by x_cost_id)

),

-- The largest share takes what rounding left over, of the money and of the ratio.
split as (

    select
        *,
        case
            when share_rank = 1
                then billed_cost_usd - (sum(rounded_share) over same_line - rounded_share)
            else rounded_share
        end as allocated_cost_usd,
        case
            when share_rank = 1 then 1 - (sum(rounded_ratio) over same_line - rounded_ratio)
            else rounded_ratio
        end as allocated_ratio
    from weighed
    window same_line as (partition by x_cost_id)

),

shared as (

    select
        x_cost_id,
        pool,
        charge_month,
        target_dimension,
        cost_category,
        method as allocated_method_id,
        jsonb_build_object(
            'pool', pool,
            'basis', case method when 'even' then 'equal_shares' else 'direct_cost_usd' end,
            'weight', trim_scale(round(weight, {{ share_scale }})),
            'basis_total', trim_scale(round(basis_total, {{ share_scale }})),
            'Elements', jsonb_build_array(jsonb_build_object(
                'AllocatedRatio', trim_scale(allocated_ratio),
                'UsageUnit',
                case method when 'even' then 'target' else 'USD of direct cost' end,
                'UsageQuantity', trim_scale(round(weight, {{ share_scale }}))
            ))
        ) as allocated_method_details,
        target_id,
        allocated_cost_usd
    from split

),

kept as (

    select
        pooled.x_cost_id,
        pooled.pool,
        pooled.charge_month,
        pooled.target_dimension,
        pooled.cost_category,
        'none' as allocated_method_id,
        jsonb_build_object(
            'pool', pooled.pool,
            'basis', 'none',
            'note',
            'no ' || pooled.target_dimension || ' of the pool had direct cost in '
            || to_char(pooled.charge_month, 'YYYY-MM')
            || ': the cost stays with its own attribution',
            'Elements', jsonb_build_array(jsonb_build_object('AllocatedRatio', 1))
        ) as allocated_method_details,
        attributed.own_target as target_id,
        pooled.billed_cost_usd as allocated_cost_usd
    from pooled
    inner join attributed
        on
            pooled.x_cost_id = attributed.x_cost_id
            and pooled.target_dimension = attributed.target_dimension
    where
        not exists (
            select 1
            from candidates
            where candidates.x_cost_id = pooled.x_cost_id
        )

),

allocations as (

    select * from shared
    union all
    select * from kept

),

target_names as (

    select
        'department' as target_dimension,
        department as target_id,
        name
    from {{ ref('departments') }}
    union all
    select
        'project' as target_dimension,
        project as target_id,
        name
    from {{ ref('projects') }}
    union all
    select
        'customer' as target_dimension,
        customer as target_id,
        name
    from {{ ref('customers') }}

),

final as (

    select
        allocations.x_cost_id,
        allocations.pool,
        allocations.charge_month,
        allocations.target_dimension,
        allocations.cost_category,
        allocations.allocated_method_id,
        allocations.allocated_method_details,
        allocations.target_id as allocated_resource_id,
        case
            when allocations.target_id = 'unallocated' then 'Unallocated'
            else coalesce(target_names.name, allocations.target_id)
        end as allocated_resource_name,
        jsonb_build_object(allocations.target_dimension, allocations.target_id) as allocated_tags,
        allocations.allocated_cost_usd
    from allocations
    left join target_names
        on
            allocations.target_dimension = target_names.target_dimension
            and allocations.target_id = target_names.target_id

)

select * from final
