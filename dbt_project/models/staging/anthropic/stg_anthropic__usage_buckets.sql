with

anthropic_messages_usage as (

    select * from {{ source('anthropic', 'anthropic_messages_usage') }}

),

latest_loads as (

    select distinct on (natural_key)
        natural_key,
        partition_key,
        run_id,
        loaded_at,
        record
    from anthropic_messages_usage
    where {{ in_run_partitions() }}
    order by natural_key asc, loaded_at desc, load_seq desc

),

renamed as (

    select
        ---------- ids
        natural_key as usage_bucket_id,
        {{ json_text("record -> 'api_key_id'") }} as api_key_id,
        {{ json_text("record -> 'workspace_id'") }} as workspace_id,

        ---------- strings
        {{ json_text("record -> 'model'") }} as model,
        {{ json_text("record -> 'service_tier'") }} as service_tier,
        {{ json_text("record -> 'context_window'") }} as context_window,
        {{ json_text("record -> 'inference_geo'") }} as inference_geo,
        partition_key,
        run_id,

        ---------- numerics
        {{ json_count("record -> 'uncached_input_tokens'") }} as input_uncached_tokens,
        {{ json_count("record -> 'cache_read_input_tokens'") }} as cache_read_tokens,
        {{ json_count("record -> 'cache_creation' -> 'ephemeral_5m_input_tokens'") }}
            as cache_write_5m_tokens,
        {{ json_count("record -> 'cache_creation' -> 'ephemeral_1h_input_tokens'") }}
            as cache_write_1h_tokens,
        {{ json_count("record -> 'output_tokens'") }} as output_tokens,
        {{ json_count("record -> 'server_tool_use' -> 'web_search_requests'") }}
            as web_search_requests,

        ---------- timestamps
        coalesce(
            {{ safe_timestamptz("record ->> 'starting_at'") }},
            {{ safe_timestamptz('partition_key') }}
        ) as bucket_started_at,
        {{ safe_timestamptz("record ->> 'ending_at'") }} as bucket_ended_at,
        loaded_at

    from latest_loads

)

select * from renamed
