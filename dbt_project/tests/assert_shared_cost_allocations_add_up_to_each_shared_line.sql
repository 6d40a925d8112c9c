-- Every ledger line a pool shares is handed on whole and once: its shares, all in one
-- target dimension, add up to its cost exactly (the largest share takes what rounding
-- leaves), and only lines that count in totals are shared. A failure names the line, its
-- cost and the sum of its shares.

{{ config(meta={'dagster': {'ref': {'name': 'shared_cost_allocations'}}}) }}

with

shares as (

    select
        x_cost_id,
        sum(allocated_cost_usd) as allocated_cost_usd,
        count(distinct target_dimension) as dimensions
    from {{ ref('shared_cost_allocations') }}
    group by x_cost_id

),

lines as (

    select
        ledger_lines.x_cost_id,
        ledger_lines.billed_cost_usd,
        ledger_lines.counts_in_totals,
        shares.allocated_cost_usd,
        shares.dimensions
    from shares
    left join {{ ref('cost_attribution') }} as ledger_lines
        on shares.x_cost_id = ledger_lines.x_cost_id

)

select * from lines
where
    billed_cost_usd is distinct from allocated_cost_usd
    or dimensions != 1
    or not coalesce(counts_in_totals, false)
