{{ config(materialized='daily_rollup') }}

{#-
    fct_metrics summed per UTC day and every dimension but tags: a TimescaleDB continuous
    aggregate where the extension is installed, a table otherwise
    (macros/daily_rollup.sql). One select without CTEs, as a continuous aggregate
    requires.
-#}

{%- set timescale = vault_has_timescaledb() %}

select
    {{ daily_bucket('fct_metrics.observed_at', timescale) }} as observed_day,
    fct_metrics.source_system,
    fct_metrics.metric_type,
    fct_metrics.unit,
    fct_metrics.department,
    fct_metrics.team,
    fct_metrics.user_email,
    fct_metrics.project,
    fct_metrics.customer,
    fct_metrics.feature,
    fct_metrics.cost_category,
    fct_metrics.environment,
    fct_metrics.service,
    fct_metrics.region,
    sum(fct_metrics.value) as value_sum,
    min(fct_metrics.value) as value_min,
    max(fct_metrics.value) as value_max,
    count(*) as observation_count
from {{ ref('fct_metrics') }} as fct_metrics
group by
    {{ daily_bucket('fct_metrics.observed_at', timescale) }},
    fct_metrics.source_system,
    fct_metrics.metric_type,
    fct_metrics.unit,
    fct_metrics.department,
    fct_metrics.team,
    fct_metrics.user_email,
    fct_metrics.project,
    fct_metrics.customer,
    fct_metrics.feature,
    fct_metrics.cost_category,
    fct_metrics.environment,
    fct_metrics.service,
    fct_metrics.region
