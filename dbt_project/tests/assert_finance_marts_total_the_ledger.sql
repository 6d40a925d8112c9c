-- Per quarter, the CFO view's total of each scope, and the P&L's lines over the
-- quarter's months, equal the ledger's dollars (cost_attribution lines that count in
-- totals; its own test ties it to fct_costs), to within a cent per leaf row of rounding.
-- A failure names the quarter, the view and both totals.

{{ config(meta={'dagster': {'ref': {'name': 'cfo_cost_by_quarter'}}}) }}

with

ledger as (

    select
        charge_quarter as quarter,
        sum(billed_cost_usd) filter (where cost_kind = 'ai') as ai_total,
        sum(billed_cost_usd) as all_total
    from {{ ref('cost_attribution') }}
    where counts_in_totals
    group by 1

),

cfo as (

    select
        quarter,
        sum(cost_usd) filter (where scope = 'ai') as ai_total,
        sum(cost_usd) filter (where scope = 'all') as all_total,
        count(*) as leaf_rows
    from {{ ref('cfo_cost_by_quarter') }}
    group by 1

),

pnl as (

    select
        date_trunc('quarter', month)::date as quarter,
        sum(cost_usd) as all_total,
        count(*) as lines
    from {{ ref('pnl_by_month') }}
    group by 1

),

compared as (

    select
        'cfo ai' as view_name,
        ledger.quarter,
        ledger.ai_total as ledger_total,
        cfo.ai_total as view_total,
        cfo.leaf_rows as rounded_rows
    from ledger
    left join cfo on ledger.quarter = cfo.quarter

    union all

    select
        'cfo all' as view_name,
        ledger.quarter,
        ledger.all_total as ledger_total,
        cfo.all_total as view_total,
        cfo.leaf_rows as rounded_rows
    from ledger
    left join cfo on ledger.quarter = cfo.quarter

    union all

    select
        'pnl' as view_name,
        ledger.quarter,
        ledger.all_total as ledger_total,
        pnl.all_total as view_total,
        pnl.lines as rounded_rows
    from ledger
    left join pnl on ledger.quarter = pnl.quarter

)

select * from compared
where
    abs(coalesce(ledger_total, 0) - coalesce(view_total, 0))
    > 0.005 * greatest(coalesce(rounded_rows, 0), 1)
