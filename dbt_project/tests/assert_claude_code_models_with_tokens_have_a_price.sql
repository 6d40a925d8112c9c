{{ config(severity='warn') }}

-- Every model that used tokens in a Claude Code transcript has a list price on the
-- day it was used. A failure lists the model, the days and the tokens left unpriced:
-- those messages get no ai.cost_estimated row, so estimated spend is understated
-- until model_prices.csv gains a row for the model. A warning, not an error, because
-- a new model can appear before anyone has added its price.

with

int_assistant_messages_priced as (

    select * from {{ ref('int_assistant_messages_priced') }}

),

final as (

    select
        coalesce(model, '(no model)') as model,
        min(observed_at) as first_observed_at,
        max(observed_at) as last_observed_at,
        count(*) as message_count,
        sum(
            input_uncached_tokens
            + cache_read_tokens
            + cache_write_5m_tokens
            + cache_write_1h_tokens
            + output_tokens
        ) as unpriced_tokens
    from int_assistant_messages_priced
    where
        price_id is null
        and (
            input_uncached_tokens
            + cache_read_tokens
            + cache_write_5m_tokens
            + cache_write_1h_tokens
            + output_tokens
        ) > 0
    group by 1

)

select * from final
