{#-
    What each department, project and customer costs per month once shared costs are
    handed on: its direct cost (counted ledger lines of its own that belong to no shared
    pool of that dimension), the shared cost it receives (shared_cost_allocations), and
    the two together. 'unallocated' is a target like any other here: it holds the direct
    cost nobody owns and any shared cost a month had no target for, so for every month
    and dimension the targets' total after allocation equals the ledger's total before.
-#}

with

cost_attribution as (

    select * from {{ ref('cost_attribution') }}
    where counts_in_totals

),

shared_cost_allocations as (

    select * from {{ ref('shared_cost_allocations') }}

),

dimensions as (

    select target_dimension
    from {{ shared_cost_dimensions() }}

),

attributed as (

    select
        cost_attribution.x_cost_id,
        cost_attribution.charge_month,
        cost_attribution.billed_cost_usd,
        dimensions.target_dimension,
        {{ shared_cost_own_target('cost_attribution', 'dimensions.target_dimension') }}
            as target_id
    from cost_attribution
    cross join dimensions

),

shared_lines as (

    select distinct
        x_cost_id,
        target_dimension
    from shared_cost_allocations

),

direct as (

    select
        attributed.charge_month,
        attributed.target_dimension,
        attributed.target_id,
        sum(attributed.billed_cost_usd) as direct_cost_usd
    from attributed
    left join shared_lines
        on
            attributed.x_cost_id = shared_lines.x_cost_id
            and attributed.target_dimension = shared_lines.target_dimension
    where shared_lines.x_cost_id is null
    group by attributed.charge_month, attributed.target_dimension, attributed.target_id

),

received as (

    select
        charge_month,
        target_dimension,
        allocated_resource_id as target_id,
        sum(allocated_cost_usd) as shared_cost_usd
    from shared_cost_allocations
    group by charge_month, target_dimension, allocated_resource_id

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

combined as (

    select
        coalesce(direct.charge_month, received.charge_month) as charge_month,
        coalesce(direct.target_dimension, received.target_dimension) as target_dimension,
        coalesce(direct.target_id, received.target_id) as target_id,
        coalesce(direct.direct_cost_usd, 0) as direct_cost_usd,
        coalesce(received.shared_cost_usd, 0) as shared_cost_usd
    from direct
    full outer join received
        on
            direct.charge_month = received.charge_month
            and direct.target_dimension = received.target_dimension
            and direct.target_id = received.target_id

),

final as (

    select
        combined.charge_month,
        combined.target_dimension,
        combined.target_id,
        case
            when combined.target_id = 'unallocated' then 'Unallocated'
            else coalesce(target_names.name, combined.target_id)
        end as target_name,
        combined.direct_cost_usd,
        combined.shared_cost_usd,
        combined.direct_cost_usd + combined.shared_cost_usd as total_cost_usd
    from combined
    left join target_names
        on
            combined.target_dimension = target_names.target_dimension
            and combined.target_id = target_names.target_id

)

select * from final
