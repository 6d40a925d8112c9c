with

stg_claude_code__assistant_messages as (

    select * from {{ ref('stg_claude_code__assistant_messages') }}

),

dim_model_prices as (

    select * from {{ ref('dim_model_prices') }}

),

matched_prices as (

    {{ match_model_prices(
        observations='stg_claude_code__assistant_messages',
        key_column='assistant_message_id',
        model_column='model',
        observed_at_column='observed_at',
        prices='dim_model_prices',
        provider='anthropic',
    ) }}

),

priced as (

    select
        messages.assistant_message_id,
        messages.message_id,
        messages.request_id,
        messages.session_id,
        matched_prices.price_id,
        messages.model,
        messages.project_dir,
        messages.cwd,
        messages.git_branch,
        messages.user_email,
        messages.claude_code_version,
        messages.input_uncached_tokens,
        messages.cache_read_tokens,
        messages.cache_write_5m_tokens,
        messages.cache_write_1h_tokens,
        messages.output_tokens,
        messages.reported_cost_usd,
        -- Every token bucket at its own rate; null when the model has no price on that
        -- date, or when a token count could not be read. The result is exact; trim_scale
        -- drops the trailing zeros that numeric division pads on.
        trim_scale(
            (
                messages.input_uncached_tokens * matched_prices.input_per_mtok
                + messages.cache_read_tokens * matched_prices.cache_read_per_mtok
                + messages.cache_write_5m_tokens * matched_prices.cache_write_5m_per_mtok
                + messages.cache_write_1h_tokens * matched_prices.cache_write_1h_per_mtok
                + messages.output_tokens * matched_prices.output_per_mtok
            ) / 1000000
        ) as estimated_cost_usd,
        messages.is_sidechain,
        messages.is_synthetic,
        messages.observed_at
    from stg_claude_code__assistant_messages as messages
    left join matched_prices
        on messages.assistant_message_id = matched_prices.assistant_message_id

)

select * from priced
