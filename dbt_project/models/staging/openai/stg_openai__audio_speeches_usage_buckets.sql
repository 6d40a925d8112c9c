with

openai_usage_audio_speeches as (

    select * from {{ source('openai', 'openai_usage_audio_speeches') }}

),

latest_loads as (

    select distinct on (natural_key)
        natural_key,
        partition_key,
        run_id,
        loaded_at,
        record
    from openai_usage_audio_speeches
    where {{ in_run_partitions() }}
    order by natural_key asc, loaded_at desc, load_seq desc

),

final as (

    select
        ---------- ids
        natural_key as usage_bucket_id,
        {{ json_text("record -> 'project_id'") }} as project_id,
        {{ json_text("record -> 'user_id'") }} as user_id,
        {{ json_text("record -> 'api_key_id'") }} as api_key_id,

        ---------- strings
        {{ json_text("record -> 'model'") }} as model,
        partition_key,
        run_id,

        ---------- numerics
        {{ json_count("record -> 'characters'") }} as characters,
        {{ json_count("record -> 'num_model_requests'") }} as model_requests,

        ---------- timestamps
        coalesce(
            {{ safe_unix_timestamptz("record -> 'start_time'") }},
            {{ safe_timestamptz('partition_key') }}
        ) as bucket_started_at,
        {{ safe_unix_timestamptz("record -> 'end_time'") }} as bucket_ended_at,
        loaded_at

    from latest_loads

)

select * from final
