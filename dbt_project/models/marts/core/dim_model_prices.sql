with

model_prices as (

    select * from {{ ref('model_prices') }}

),

dated as (

    select
        ---------- ids
        concat_ws(':', provider, model_pattern, to_char(effective_from, 'YYYY-MM-DD'))
            as price_id,

        ---------- strings
        provider,
        model_pattern,
        currency,

        ---------- numerics
        input_per_mtok,
        output_per_mtok,
        cache_read_per_mtok,
        cache_write_5m_per_mtok,
        cache_write_1h_per_mtok,
        batch_multiplier,

        ---------- dates
        effective_from,
        -- An empty effective_to ends where the next price for the same pattern starts,
        -- or is open-ended when there is none, so recording a price change only takes
        -- a new row.
        coalesce(
            effective_to,
            lead(effective_from) over (
                partition by provider, model_pattern
                order by effective_from asc
            ),
            '9999-12-31'::date
        ) as effective_to

    from model_prices

),

final as (

    select
        price_id,
        provider,
        model_pattern,
        currency,
        input_per_mtok,
        output_per_mtok,
        cache_read_per_mtok,
        cache_write_5m_per_mtok,
        cache_write_1h_per_mtok,
        batch_multiplier,
        effective_to = '9999-12-31'::date as is_open_ended,
        effective_from,
        effective_to
    from dated

)

select * from final
