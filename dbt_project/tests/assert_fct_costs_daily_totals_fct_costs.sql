-- Lists the UTC days, sources and currencies where fct_costs_daily disagrees with
-- fct_costs (billed, effective or list cost, or number of lines). On TimescaleDB the
-- rollup is a real-time continuous aggregate: a day rewritten since its last refresh
-- disagrees until the hourly refresh policy (started at once by each dbt run) has run.

{{ config(meta={'dagster': {'ref': {'name': 'fct_costs_daily'}}}) }}

with

fct_costs as (

    select * from {{ ref('fct_costs') }}

),

fct_costs_daily as (

    select * from {{ ref('fct_costs_daily') }}

),

facts_per_day as (

    select
        {{ daily_bucket('charge_period_start', false) }} as charge_day,
        x_source_system,
        billing_currency,
        sum(billed_cost) as billed_cost,
        sum(effective_cost) as effective_cost,
        sum(list_cost) as list_cost,
        count(*) as charge_count
    from fct_costs
    group by 1, 2, 3

),

rollup_per_day as (

    select
        charge_day,
        x_source_system,
        billing_currency,
        sum(billed_cost) as billed_cost,
        sum(effective_cost) as effective_cost,
        sum(list_cost) as list_cost,
        sum(charge_count) as charge_count
    from fct_costs_daily
    group by 1, 2, 3

),

final as (

    select
        coalesce(facts_per_day.charge_day, rollup_per_day.charge_day) as charge_day,
        coalesce(facts_per_day.x_source_system, rollup_per_day.x_source_system)
            as x_source_system,
        coalesce(facts_per_day.billing_currency, rollup_per_day.billing_currency)
            as billing_currency,
        facts_per_day.billed_cost as fact_billed_cost,
        rollup_per_day.billed_cost as rollup_billed_cost,
        facts_per_day.effective_cost as fact_effective_cost,
        rollup_per_day.effective_cost as rollup_effective_cost,
        facts_per_day.list_cost as fact_list_cost,
        rollup_per_day.list_cost as rollup_list_cost,
        facts_per_day.charge_count as fact_lines,
        rollup_per_day.charge_count as rollup_lines
    from facts_per_day
    full outer join rollup_per_day
        on
            facts_per_day.charge_day = rollup_per_day.charge_day
            and facts_per_day.x_source_system = rollup_per_day.x_source_system
            and facts_per_day.billing_currency
            is not distinct from rollup_per_day.billing_currency
    where
        facts_per_day.billed_cost is distinct from rollup_per_day.billed_cost
        or facts_per_day.effective_cost is distinct from rollup_per_day.effective_cost
        or facts_per_day.list_cost is distinct from rollup_per_day.list_cost
        or facts_per_day.charge_count is distinct from rollup_per_day.charge_count

)

select * from final
