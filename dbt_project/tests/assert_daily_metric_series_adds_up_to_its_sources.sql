-- Nothing is lost or counted twice on the way into daily_metric_series: each summed
-- metric's series adds up to the metric's total in fct_metrics (where every row is in
-- the series' own unit, so no currency was converted), each cost series to its source's
-- billed dollars in cost_attribution over the lines that count in totals, and cost:all
-- to all of them. A failure names the series and both totals.

{{ config(meta={'dagster': {'ref': {'name': 'daily_metric_series'}}}) }}

with

series_totals as (

    select
        source_system,
        metric_type,
        min(unit) as unit,
        sum(value) as total
    from {{ ref('daily_metric_series') }}
    where aggregation = 'sum'
    group by source_system, metric_type

),

metric_totals as (

    select
        source_system,
        metric_type,
        min(unit) as unit,
        max(unit) as last_unit,
        sum(value) as total
    from {{ ref('fct_metrics') }}
    group by source_system, metric_type

),

metric_mismatches as (

    select
        series_totals.source_system || ':' || series_totals.metric_type as series,
        metric_totals.total as source_total,
        series_totals.total as series_total
    from series_totals
    inner join metric_totals
        on
            series_totals.source_system = metric_totals.source_system
            and series_totals.metric_type = metric_totals.metric_type
    where
        series_totals.source_system != 'cost'
        and metric_totals.unit = metric_totals.last_unit
        and metric_totals.unit = series_totals.unit
        and abs(metric_totals.total - series_totals.total) >= 0.000001

),

counted_costs as (

    select
        x_source_system,
        billed_cost_usd
    from {{ ref('cost_attribution') }}
    where counts_in_totals

),

cost_totals as (

    select
        x_source_system as metric_type,
        sum(billed_cost_usd) as total
    from counted_costs
    group by x_source_system
    union all
    select
        'all' as metric_type,
        sum(billed_cost_usd) as total
    from counted_costs

),

cost_series_totals as (

    select
        metric_type,
        total
    from series_totals
    where source_system = 'cost'

),

cost_mismatches as (

    select
        'cost:' || coalesce(cost_totals.metric_type, cost_series_totals.metric_type) as series,
        cost_totals.total as source_total,
        cost_series_totals.total as series_total
    from cost_totals
    full outer join cost_series_totals
        on cost_totals.metric_type = cost_series_totals.metric_type
    where abs(coalesce(cost_totals.total, 0) - coalesce(cost_series_totals.total, 0)) >= 0.005

),

final as (

    select * from metric_mismatches
    union all
    select * from cost_mismatches

)

select * from final
