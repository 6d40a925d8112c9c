{{ config(materialized='table', schema='marts') }}

{#-
    One row per UTC day, the calendar MetricFlow joins metrics to (metric_time at day,
    week, month, quarter and year grain). The range is fixed rather than read from the
    facts, so that the table never depends on a run's window: 2015 to 2040 covers every
    ledger a vault has loaded and many years ahead, in under 10,000 rows.
    tests/assert_time_spine_covers_every_fact_day.sql fails when a fact's day falls
    outside it.
-#}

with

days as (

    select
        generate_series(
            '2015-01-01'::date,
            '2040-12-31'::date,
            interval '1 day'
        )::date as date_day

),

final as (

    select date_day from days

)

select * from final
