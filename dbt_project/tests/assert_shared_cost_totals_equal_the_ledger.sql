-- Handing shared costs on moves money between targets; it never makes or loses any. Per
-- month and target dimension, the targets' total after allocation (shared_cost_totals)
-- equals the ledger's total before it (cost_attribution lines that count in totals) to the
-- cent. A failure names the month, the dimension and both totals.

{{ config(meta={'dagster': {'ref': {'name': 'shared_cost_totals'}}}) }}

with

dimensions as (

    select target_dimension
    from {{ shared_cost_dimensions() }}

),

ledger as (

    select
        ledger_lines.charge_month,
        dimensions.target_dimension,
        sum(ledger_lines.billed_cost_usd) as total_before_usd
    from {{ ref('cost_attribution') }} as ledger_lines
    cross join dimensions
    where ledger_lines.counts_in_totals
    group by ledger_lines.charge_month, dimensions.target_dimension

),

allocated as (

    select
        charge_month,
        target_dimension,
        sum(total_cost_usd) as total_after_usd
    from {{ ref('shared_cost_totals') }}
    group by charge_month, target_dimension

),

compared as (

    select
        coalesce(ledger.charge_month, allocated.charge_month) as charge_month,
        coalesce(ledger.target_dimension, allocated.target_dimension) as target_dimension,
        coalesce(ledger.total_before_usd, 0) as total_before_usd,
        coalesce(allocated.total_after_usd, 0) as total_after_usd
    from ledger
    full outer join allocated
        on
            ledger.charge_month = allocated.charge_month
            and ledger.target_dimension = allocated.target_dimension

)

select * from compared
where abs(total_before_usd - total_after_usd) >= 0.005
