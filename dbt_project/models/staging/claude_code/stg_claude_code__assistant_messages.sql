with

claude_code_messages as (

    select * from {{ source('claude_code', 'claude_code_messages') }}

),

latest_loads as (

    select distinct on (natural_key)
        natural_key,
        partition_key,
        run_id,
        loaded_at,
        record,
        record -> 'message' -> 'usage' as message_usage,
        record -> 'message' -> 'usage' -> 'cache_creation' as cache_split
    from claude_code_messages
    where {{ in_run_partitions() }}
    order by natural_key asc, loaded_at desc, load_seq desc

),

renamed as (

    select
        ---------- ids
        natural_key as assistant_message_id,
        {{ json_text("record -> 'message' -> 'id'") }} as message_id,
        {{ json_text("record -> 'requestId'") }} as request_id,
        {{ json_text("record -> 'sessionId'") }} as session_id,
        {{ json_text("record -> 'uuid'") }} as entry_uuid,

        ---------- strings
        {{ json_text("record -> 'type'") }} as entry_type,
        {{ json_text("record -> 'message' -> 'model'") }} as model,
        {{ json_text("record -> '_vault' -> 'project_dir'") }} as project_dir,
        {{ json_text("record -> 'cwd'") }} as cwd,
        {{ json_text("record -> 'gitBranch'") }} as git_branch,
        lower({{ json_text("record -> '_vault' -> 'user_email'") }}) as user_email,
        {{ json_text("record -> 'version'") }} as claude_code_version,
        {{ json_text("record -> '_vault' -> 'file'") }} as transcript_file,
        partition_key,
        run_id,

        ---------- numerics
        {{ safe_bigint("record -> '_vault' -> 'line'") }} as transcript_line,
        -- Claude Code's input_tokens excludes cache reads and cache writes.
        {{ json_count("message_usage -> 'input_tokens'") }} as input_uncached_tokens,
        {{ json_count("message_usage -> 'cache_read_input_tokens'") }} as cache_read_tokens,
        -- Older builds report only the total of cache writes, without the 5-minute and
        -- 1-hour split; the whole total then counts as 5-minute writes, the default TTL.
        case
            when jsonb_typeof(cache_split) = 'object'
                then {{ json_count("cache_split -> 'ephemeral_5m_input_tokens'") }}
            else {{ json_count("message_usage -> 'cache_creation_input_tokens'") }}
        end as cache_write_5m_tokens,
        case
            when jsonb_typeof(cache_split) = 'object'
                then {{ json_count("cache_split -> 'ephemeral_1h_input_tokens'") }}
            else 0
        end as cache_write_1h_tokens,
        {{ json_count("message_usage -> 'output_tokens'") }} as output_tokens,
        -- Present on old builds only: the client's own estimate, not a bill.
        {{ safe_numeric("record -> 'costUSD'") }} as reported_cost_usd,

        ---------- booleans
        coalesce({{ safe_boolean("record -> 'isSidechain'") }}, false) as is_sidechain,
        -- Claude Code writes some assistant lines itself (after an interruption or a
        -- failed call) and marks them with this model name; no API request was made.
        coalesce({{ json_text("record -> 'message' -> 'model'") }} = '<synthetic>', false)
            as is_synthetic,

        ---------- timestamps
        -- A line without a readable timestamp is placed at the start of its partition.
        coalesce(
            {{ safe_timestamptz("record ->> 'timestamp'") }},
            {{ safe_timestamptz('partition_key') }}
        ) as observed_at,
        loaded_at

    from latest_loads

)

select * from renamed
