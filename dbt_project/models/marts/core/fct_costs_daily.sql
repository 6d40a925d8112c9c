{{ config(materialized='daily_rollup') }}

{#-
    fct_costs summed per UTC day of charge_period_start, source, provider, service
    category, taxonomy and currency: a TimescaleDB continuous aggregate where the
    extension is installed, a table otherwise (macros/daily_rollup.sql). One select
    without CTEs, as a continuous aggregate requires. A charge covering a month counts
    on the day its period starts.
-#}

{%- set timescale = vault_has_timescaledb() %}

select
    {{ daily_bucket('fct_costs.charge_period_start', timescale) }} as charge_day,
    fct_costs.x_source_system,
    fct_costs.provider_name,
    fct_costs.service_category,
    fct_costs.billing_currency,
    fct_costs.x_department,
    fct_costs.x_team,
    fct_costs.x_user_email,
    fct_costs.x_project,
    fct_costs.x_customer,
    fct_costs.x_feature,
    fct_costs.x_cost_category,
    fct_costs.x_environment,
    fct_costs.x_estimated,
    sum(fct_costs.billed_cost) as billed_cost,
    sum(fct_costs.effective_cost) as effective_cost,
    sum(fct_costs.list_cost) as list_cost,
    count(*) as charge_count
from {{ ref('fct_costs') }} as fct_costs
group by
    {{ daily_bucket('fct_costs.charge_period_start', timescale) }},
    fct_costs.x_source_system,
    fct_costs.provider_name,
    fct_costs.service_category,
    fct_costs.billing_currency,
    fct_costs.x_department,
    fct_costs.x_team,
    fct_costs.x_user_email,
    fct_costs.x_project,
    fct_costs.x_customer,
    fct_costs.x_feature,
    fct_costs.x_cost_category,
    fct_costs.x_environment,
    fct_costs.x_estimated
