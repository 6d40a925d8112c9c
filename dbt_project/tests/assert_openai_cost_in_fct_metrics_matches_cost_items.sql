-- For each day, the OpenAI cost in fct_metrics (ai.cost) equals the total of the
-- staged OpenAI cost items for that day, in dollars. A failure lists the day and both
-- totals: a gap means cost items were lost, double counted or changed between the
-- Costs API and the fact table (or fct_metrics is stale for that window and needs a
-- run). Checked over the run window only, which is all time by default.

-- Shown in Dagster as a check on fct_metrics, the table whose contents it proves.
{{ config(meta={'dagster': {'ref': {'name': 'fct_metrics'}}}) }}

with

stg_openai__cost_items as (

    select * from {{ ref('stg_openai__cost_items') }}

),

fct_metrics as (

    select * from {{ ref('fct_metrics') }}

),

cost_item_totals as (

    select
        bucket_started_at as observed_at,
        sum(amount_usd) as total_usd
    from stg_openai__cost_items
    where {{ in_run_window('bucket_started_at') }}
    group by 1

),

fct_totals as (

    select
        observed_at,
        sum(value) as total_usd
    from fct_metrics
    where
        source_system = 'openai'
        and metric_type = 'ai.cost'
        and {{ in_run_window('observed_at') }}
    group by 1

),

final as (

    select
        coalesce(cost_item_totals.observed_at, fct_totals.observed_at) as observed_at,
        cost_item_totals.total_usd as cost_item_total_usd,
        fct_totals.total_usd as fct_total_usd
    from cost_item_totals
    full outer join fct_totals
        on cost_item_totals.observed_at = fct_totals.observed_at
    where
        coalesce(cost_item_totals.total_usd, 0) <> coalesce(fct_totals.total_usd, 0)

)

select * from final
