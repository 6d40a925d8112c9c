{{
    config(
        indexes=[
            {'columns': ['series', 'day'], 'unique': true},
            {'columns': ['day']},
        ],
    )
}}

{#-
    Every source's numbers as one value per UTC day and series, so that any two can be
    laid side by side: `<source_system>:<metric_type>` for each metric of fct_metrics,
    and `cost:<source system>` and `cost:all` for the money of the cost ledger.

    - How a metric's rows make the day's value comes from seeds/metric_aggregations.csv
      (first matching rule by priority; an empty cell matches any): sum by default;
      mean for durations and latencies (weighted by a tag when the rule names one and
      every row of the day carries it); level for snapshots (added up over the items
      seen at one moment, then averaged over the day's moments, never added across
      moments or days).
    - Money metrics (a unit that is an ISO 4217 code) are turned into US dollars at the
      fx_rates.csv rate in effect on the day before they are added up, so revenue in
      several currencies makes one series; money in a currency without a rate on its
      day is left out.
    - Cost series add billed_cost_usd of cost_attribution over the lines that count in
      totals (Kubernetes allocations re-divide node costs a cloud bill already holds).

    A table rather than incremental: a day's value needs every row of that day, and a
    run's window need not start or end at midnight.
-#}

with

fct_metrics as (

    select
        observed_at,
        source_system,
        metric_type,
        value,
        unit,
        tags
    from {{ ref('fct_metrics') }}

),

cost_attribution as (

    select * from {{ ref('cost_attribution') }}

),

aggregation_rules as (

    select * from {{ ref('metric_aggregations') }}

),

fx_rates as (

    select * from {{ ref('int_fx_rates') }}

),

metric_types as (

    select distinct
        source_system,
        metric_type
    from fct_metrics

),

metric_rules as (

    select
        metric_types.source_system,
        metric_types.metric_type,
        coalesce(first_rule.aggregation, 'sum') as aggregation,
        first_rule.weight_tag
    from metric_types
    left join lateral (
        select
            aggregation_rules.aggregation,
            aggregation_rules.weight_tag
        from aggregation_rules
        where
            (
                aggregation_rules.source_system is null
                or aggregation_rules.source_system = metric_types.source_system
            )
            and (
                aggregation_rules.metric_type is null
                or aggregation_rules.metric_type = metric_types.metric_type
            )
        order by aggregation_rules.priority
        limit 1
    ) as first_rule on true

),

observations as (

    select
        (fct_metrics.observed_at at time zone 'UTC')::date as day,
        fct_metrics.observed_at,
        fct_metrics.source_system,
        fct_metrics.metric_type,
        metric_rules.aggregation,
        fct_metrics.value,
        fct_metrics.unit,
        case
            when jsonb_typeof(fct_metrics.tags -> metric_rules.weight_tag) = 'number'
                then (fct_metrics.tags ->> metric_rules.weight_tag)::numeric
        end as weight
    from fct_metrics
    inner join metric_rules
        on
            fct_metrics.source_system = metric_rules.source_system
            and fct_metrics.metric_type = metric_rules.metric_type

),

observations_in_dollars as (

    -- A unit of three capital letters is an ISO 4217 currency, as the unit checks of
    -- fct_metrics read it. Money without a rate for its day is left out, not guessed at.
    select
        observations.day,
        observations.observed_at,
        observations.source_system,
        observations.metric_type,
        observations.aggregation,
        observations.weight,
        case
            when observations.unit ~ '^[A-Z]{3}$'
                then observations.value * fx_rates.usd_per_unit
            else observations.value
        end as value,
        case
            when observations.unit ~ '^[A-Z]{3}$' then 'USD'
            else observations.unit
        end as unit
    from observations
    left join fx_rates
        on
            observations.unit = fx_rates.currency
            and observations.day >= fx_rates.effective_from
            and (fx_rates.effective_to is null or observations.day < fx_rates.effective_to)
    where observations.unit !~ '^[A-Z]{3}$' or fx_rates.currency is not null

),

summed as (

    select
        day,
        source_system,
        metric_type,
        unit,
        aggregation,
        sum(value) as value
    from observations_in_dollars
    where aggregation = 'sum'
    group by day, source_system, metric_type, unit, aggregation

),

averaged as (

    select
        day,
        source_system,
        metric_type,
        unit,
        aggregation,
        case
            when count(weight) = count(*) and sum(weight) > 0
                then sum(value * weight) / sum(weight)
            else avg(value)
        end as value
    from observations_in_dollars
    where aggregation = 'mean'
    group by day, source_system, metric_type, unit, aggregation

),

level_moments as (

    select
        day,
        observed_at,
        source_system,
        metric_type,
        unit,
        aggregation,
        sum(value) as value
    from observations_in_dollars
    where aggregation = 'level'
    group by day, observed_at, source_system, metric_type, unit, aggregation

),

levels as (

    select
        day,
        source_system,
        metric_type,
        unit,
        aggregation,
        avg(value) as value
    from level_moments
    group by day, source_system, metric_type, unit, aggregation

),

counted_costs as (

    select
        charge_day as day,
        x_source_system,
        billed_cost_usd
    from cost_attribution
    where counts_in_totals

),

costs_by_source as (

    select
        day,
        'cost' as source_system,
        x_source_system as metric_type,
        'USD' as unit,
        'sum' as aggregation,
        sum(billed_cost_usd) as value
    from counted_costs
    group by day, x_source_system

),

costs_in_all as (

    select
        day,
        'cost' as source_system,
        'all' as metric_type,
        'USD' as unit,
        'sum' as aggregation,
        sum(billed_cost_usd) as value
    from counted_costs
    group by day

),

every_series as (

    select * from summed
    union all
    select * from averaged
    union all
    select * from levels
    union all
    select * from costs_by_source
    union all
    select * from costs_in_all

),

final as (

    select
        day,
        source_system || ':' || metric_type as series,
        source_system,
        metric_type,
        unit,
        trim_scale(value) as value,
        aggregation
    from every_series
    -- A day of nothing but cost lines without a dollar rate has no value to show.
    where value is not null

)

select * from final
