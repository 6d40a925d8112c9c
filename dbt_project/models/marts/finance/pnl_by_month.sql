{#-
    Costs per month on the lines of the company's own P&L (seeds/pnl_lines.csv): each line
    collects the costs of the (cost category, kind of cost) pairs it names. Costs whose
    pair no line names, and unallocated ones, show on the line 'unallocated' at the
    bottom, so the lines of a month add up to all its costs.
-#}

with

costs as (

    select * from {{ ref('cost_attribution') }}
    where counts_in_totals

),

pnl_lines as (

    select * from {{ ref('pnl_lines') }}

),

final as (

    select
        costs.charge_month as month,
        coalesce(pnl_lines.pnl_line, 'unallocated') as pnl_line,
        coalesce(pnl_lines.label, 'Unallocated') as label,
        coalesce(pnl_lines.sort_order, 999999) as sort_order,
        round(sum(costs.billed_cost_usd), 2) as cost_usd
    from costs
    left join pnl_lines
        on
            costs.cost_category = pnl_lines.cost_category
            and costs.cost_kind = pnl_lines.cost_kind
    group by 1, 2, 3, 4

)

select * from final
