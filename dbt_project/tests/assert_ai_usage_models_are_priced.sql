-- Lists the models whose tokens have no price in dim_model_prices on the day they were
-- used. Their tokens are in fct_ai_usage at cost 0 with cost_origin 'unpriced', never
-- dropped; add the model to seeds/model_prices.csv (`vault prices update`) and rebuild.
-- A warning, not an error: a new model should not stop the rest of the build.

{{ config(severity='warn', meta={'dagster': {'ref': {'name': 'fct_ai_usage'}}}) }}

with

fct_ai_usage as (

    select * from {{ ref('fct_ai_usage') }}

),

final as (

    select
        provider,
        model,
        min(usage_started_at) as first_used_at,
        max(usage_started_at) as last_used_at,
        sum(tokens) as unpriced_tokens
    from fct_ai_usage
    where cost_origin = 'unpriced'
    group by 1, 2

)

select * from final
