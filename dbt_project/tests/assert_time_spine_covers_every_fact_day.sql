{#-
    Every day a fact of the semantic layer falls on is a day of metricflow_time_spine.
    A failing row is a day outside the spine's fixed range: extend the range in
    models/semantic/metricflow_time_spine.sql, or MetricFlow's joins to the calendar
    (cumulative metrics, filled gaps) leave those days out.
-#}

with

cost_attribution as (

    select * from {{ ref('cost_attribution') }}

),

fct_ai_usage as (

    select * from {{ ref('fct_ai_usage') }}

),

fct_metrics as (

    select * from {{ ref('fct_metrics') }}

),

metricflow_time_spine as (

    select * from {{ ref('metricflow_time_spine') }}

),

fact_days as (

    select charge_day as fact_day from cost_attribution
    union
    select (usage_started_at at time zone 'UTC')::date as fact_day from fct_ai_usage
    union
    select (observed_at at time zone 'UTC')::date as fact_day from fct_metrics

),

final as (

    select fact_days.fact_day
    from fact_days
    left join metricflow_time_spine
        on fact_days.fact_day = metricflow_time_spine.date_day
    where metricflow_time_spine.date_day is null

)

select * from final
