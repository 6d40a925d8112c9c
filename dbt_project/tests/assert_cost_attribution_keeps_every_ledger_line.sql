-- Every ledger line reaches cost_attribution exactly once, with its money: per source
-- system, the count of lines and the billed total in fct_costs equal those of
-- cost_attribution, and no ledger line is missing or repeated. A failure lists the source
-- and both sides.

{{ config(meta={'dagster': {'ref': {'name': 'cost_attribution'}}}) }}

with

ledger as (

    select
        x_source_system,
        count(*) as lines,
        sum(billed_cost) as billed
    from {{ ref('fct_costs') }}
    group by x_source_system

),

attributed as (

    select
        x_source_system,
        count(distinct x_cost_id) as distinct_lines,
        count(*) as lines,
        sum(billed_cost) as billed
    from {{ ref('cost_attribution') }}
    group by x_source_system

),

final as (

    select
        coalesce(ledger.x_source_system, attributed.x_source_system) as x_source_system,
        ledger.lines as ledger_lines,
        attributed.lines as attributed_lines,
        attributed.distinct_lines as attributed_distinct_lines,
        ledger.billed as ledger_billed,
        attributed.billed as attributed_billed
    from ledger
    full outer join attributed
        on ledger.x_source_system = attributed.x_source_system
    where
        ledger.lines is distinct from attributed.lines
        or attributed.lines is distinct from attributed.distinct_lines
        or abs(coalesce(ledger.billed, 0) - coalesce(attributed.billed, 0)) >= 0.005

)

select * from final
