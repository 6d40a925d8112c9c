with

claude_code_hook_events as (

    select * from {{ source('claude_code', 'claude_code_hook_events') }}

),

-- A sender that could not confirm a commit sends the batch again, so an event_id can
-- occur more than once; the latest load of each wins.
latest_loads as (

    select distinct on (natural_key)
        natural_key,
        partition_key,
        run_id,
        loaded_at,
        record
    from claude_code_hook_events
    where {{ in_run_partitions() }}
    order by natural_key asc, loaded_at desc, load_seq desc

),

renamed as (

    select
        ---------- ids
        natural_key as hook_event_id,
        {{ json_text("record -> 'session_id'") }} as session_id,

        ---------- strings
        {{ json_text("record -> 'event_type'") }} as event_type,
        {{ json_text("record -> 'task_class'") }} as task_class,
        lower({{ json_text("record -> 'user_email'") }}) as user_email,
        {{ json_text("record -> 'department'") }} as department,
        {{ json_text("record -> 'project'") }} as project,
        {{ json_text("record -> 'cwd'") }} as cwd,
        {{ json_text("record -> 'project_dir'") }} as project_dir,
        case
            when jsonb_typeof(record -> 'matched_rules') = 'array'
                then record -> 'matched_rules'
            else '[]'::jsonb
        end as matched_rules,
        -- The prompt's text exactly as typed (not trimmed), for the engineers who opted in.
        case
            when jsonb_typeof(record -> 'prompt') = 'string' then record ->> 'prompt'
        end as prompt,
        {{ json_text("record -> 'hook_version'") }} as hook_version,
        run_id as client_id,
        partition_key,

        ---------- numerics
        {{ safe_bigint("record -> 'prompt_chars'") }} as prompt_chars,

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
