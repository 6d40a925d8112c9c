with

product_usage_events as (

    select * from {{ source('product', 'product_usage_events') }}

),

-- A tracker that could not confirm a commit sends the batch again, so an event_id can
-- occur more than once; the latest load of each wins.
latest_loads as (

    select distinct on (natural_key)
        natural_key,
        partition_key,
        run_id,
        loaded_at,
        record
    from product_usage_events
    where {{ in_run_partitions() }}
    order by natural_key asc, loaded_at desc, load_seq desc

),

renamed as (

    select
        ---------- ids
        natural_key as usage_event_id,
        {{ json_text("record -> 'request_id'") }} as request_id,
        {{ json_text("record -> 'customer'") }} as customer_id,

        ---------- strings
        {{ json_text("record -> 'feature'") }} as feature,
        {{ json_text("record -> 'model'") }} as model,
        -- "provider" is a keyword to the linter, not to Postgres.
        lower({{ json_text("record -> 'provider'") }}) as provider,  -- noqa: RF04
        {{ json_text("record -> 'error_type'") }} as error_type,
        case
            when jsonb_typeof(record -> 'tags') = 'object' then record -> 'tags'
            else '{}'::jsonb
        end as tags,
        run_id as client_id,
        partition_key,

        ---------- numerics
        -- tokens_in counts input at the full rate only: cache reads and writes apart.
        {{ safe_bigint("record -> 'tokens_in'") }} as input_uncached_tokens,
        {{ safe_bigint("record -> 'tokens_out'") }} as output_tokens,
        {{ json_count("record -> 'cache_read_tokens'") }} as cache_read_tokens,
        {{ json_count("record -> 'cache_write_tokens'") }} as cache_write_tokens,
        {{ safe_numeric("record -> 'cost_usd'") }} as reported_cost_usd,
        {{ safe_numeric("record -> 'latency_ms'") }} as latency_ms,

        ---------- booleans
        {{ safe_boolean("record -> 'success'") }} as is_success,

        ---------- timestamps
        -- An event without a readable time is placed at the start of its partition.
        coalesce(
            {{ safe_timestamptz("record ->> 'occurred_at'") }},
            {{ safe_timestamptz('partition_key') }}
        ) as occurred_at,
        loaded_at

    from latest_loads

)

select * from renamed
