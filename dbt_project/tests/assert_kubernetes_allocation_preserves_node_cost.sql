{{ config(meta={'dagster': {'ref': {'name': 'fct_costs'}}}) }}

-- Allocation moves the nodes' cost between workloads, idle and shared namespaces; it never
-- makes or loses any. Per cluster and UTC day of the run window, three totals agree to the
-- cent: what the nodes' capacity costs at their rates (stg_kubernetes__nodes), allocated +
-- idle + shared cost over int_kubernetes__allocations, and the billed cost of the
-- kubernetes lines in fct_costs. A failing row names the day and all three.

with

nodes as (

    select
        cluster_name,
        date_trunc('day', hour_started_at at time zone 'UTC') as usage_day,
        sum(node_cost) as node_cost
    from {{ ref('stg_kubernetes__nodes') }}
    where {{ in_run_window('hour_started_at') }}
    group by 1, 2

),

allocations as (

    select
        cluster_name,
        date_trunc('day', hour_started_at at time zone 'UTC') as usage_day,
        sum(allocated_cost) as allocated_cost,
        sum(idle_cost) as idle_cost,
        sum(shared_cost) as shared_cost
    from {{ ref('int_kubernetes__allocations') }}
    where {{ in_run_window('hour_started_at') }}
    group by 1, 2

),

ledger as (

    select
        sub_account_id as cluster_name,
        date_trunc('day', charge_period_start at time zone 'UTC') as usage_day,
        sum(billed_cost) as billed_cost
    from {{ ref('fct_costs') }}
    where x_source_system = 'kubernetes' and {{ in_run_window('charge_period_start') }}
    group by 1, 2

),

compared as (

    select
        coalesce(nodes.cluster_name, allocations.cluster_name, ledger.cluster_name)
            as cluster_name,
        coalesce(nodes.usage_day, allocations.usage_day, ledger.usage_day) as usage_day,
        coalesce(nodes.node_cost, 0) as node_cost,
        coalesce(allocations.allocated_cost, 0) as allocated_cost,
        coalesce(allocations.idle_cost, 0) as idle_cost,
        coalesce(allocations.shared_cost, 0) as shared_cost,
        coalesce(ledger.billed_cost, 0) as ledger_billed_cost
    from nodes
    full outer join allocations
        on
            nodes.cluster_name = allocations.cluster_name
            and nodes.usage_day = allocations.usage_day
    full outer join ledger
        on
            coalesce(nodes.cluster_name, allocations.cluster_name) = ledger.cluster_name
            and coalesce(nodes.usage_day, allocations.usage_day) = ledger.usage_day

)

select *
from compared
where
    abs(node_cost - (allocated_cost + idle_cost + shared_cost)) >= 0.005
    or abs(node_cost - ledger_billed_cost) >= 0.005
