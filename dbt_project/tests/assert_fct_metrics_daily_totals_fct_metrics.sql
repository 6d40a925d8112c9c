-- Lists the UTC days, metric types and units where fct_metrics_daily disagrees with
-- fct_metrics (sum of value or number of rows). On TimescaleDB the rollup is a
-- real-time continuous aggregate: a day rewritten since its last refresh disagrees
-- until the hourly refresh policy (started at once by each dbt run) has run.

{{ config(meta={'dagster': {'ref': {'name': 'fct_metrics_daily'}}}) }}

with

fct_metrics as (

    select * from {{ ref('fct_metrics') }}

),

fct_metrics_daily as (

    select * from {{ ref('fct_metrics_daily') }}

),

facts_per_day as (

    select
        {{ daily_bucket('observed_at', false) }} as observed_day,
        metric_type,
        unit,
        sum(value) as value_sum,
        count(*) as observation_count
    from fct_metrics
    group by 1, 2, 3

),

rollup_per_day as (

    select
        observed_day,
        metric_type,
        unit,
        sum(value_sum) as value_sum,
        sum(observation_count) as observation_count
    from fct_metrics_daily
    group by 1, 2, 3

),

final as (

    select
        coalesce(facts_per_day.observed_day, rollup_per_day.observed_day)
            as observed_day,
        coalesce(facts_per_day.metric_type, rollup_per_day.metric_type)
            as metric_type,
        coalesce(facts_per_day.unit, rollup_per_day.unit) as unit,
        facts_per_day.value_sum as fact_value_sum,
        rollup_per_day.value_sum as rollup_value_sum,
        facts_per_day.observation_count as fact_rows,
        rollup_per_day.observation_count as rollup_rows
    from facts_per_day
    full outer join rollup_per_day
        on
            facts_per_day.observed_day = rollup_per_day.observed_day
            and facts_per_day.metric_type = rollup_per_day.metric_type
            and facts_per_day.unit = rollup_per_day.unit
    where
        facts_per_day.value_sum is distinct from rollup_per_day.value_sum
        or facts_per_day.observation_count
        is distinct from rollup_per_day.observation_count

)

select * from final
