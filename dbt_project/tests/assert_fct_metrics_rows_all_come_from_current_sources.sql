-- Inside the run window, fct_metrics holds exactly the rows its int_metrics__<source>
-- models produce now: none missing, none left over, none with a different value.
-- A failure lists the metric id and where it was found: a row only in fct_metrics is
-- a leftover the window replacement should have deleted (a record that disappeared
-- from its source), a row only in the sources was never inserted, and a row in both
-- with different values was not replaced. Outside the window fct_metrics may lag its
-- sources until the window is run, so only the window is checked (all time by default).

-- Shown in Dagster as a check on fct_metrics, the table whose contents it proves.
{{ config(meta={'dagster': {'ref': {'name': 'fct_metrics'}}}) }}

with

fct_metrics as (

    select * from {{ ref('fct_metrics') }}
    where {{ in_run_window('observed_at') }}

),

metric_sources as (

    {{ union_metric_sources(is_windowed=true) }}

),

final as (

    select
        coalesce(fct_metrics.metric_id, metric_sources.metric_id) as metric_id,
        case
            when metric_sources.metric_id is null then 'only in fct_metrics'
            when fct_metrics.metric_id is null then 'only in the sources'
            else 'values differ'
        end as finding,
        fct_metrics.value as fct_value,
        metric_sources.value as source_value
    from fct_metrics
    full outer join metric_sources
        on fct_metrics.metric_id = metric_sources.metric_id
    where
        fct_metrics.metric_id is null
        or metric_sources.metric_id is null
        or fct_metrics.value <> metric_sources.value

)

select * from final
