with

anthropic_claude_code_usage as (

    select * from {{ source('anthropic', 'anthropic_claude_code_usage') }}

),

latest_loads as (

    select distinct on (natural_key)
        natural_key,
        partition_key,
        run_id,
        loaded_at,
        record,
        record -> 'actor' as actor,
        record -> 'core_metrics' as core_metrics,
        record -> 'tool_actions' as tool_actions
    from anthropic_claude_code_usage
    where {{ in_run_partitions() }}
    order by natural_key asc, loaded_at desc, load_seq desc

),

renamed as (

    select
        ---------- ids
        natural_key as claude_code_user_day_id,
        {{ json_text("record -> 'organization_id'") }} as organization_id,

        ---------- strings
        {{ json_text("actor -> 'type'") }} as actor_type,
        -- Emails are matched case-insensitively everywhere, so they are kept in lower case.
        lower({{ json_text("actor -> 'email_address'") }}) as user_email,
        {{ json_text("actor -> 'api_key_name'") }} as api_key_name,
        {{ json_text("record -> 'customer_type'") }} as customer_type,
        {{ json_text("record -> 'terminal_type'") }} as terminal_type,
        partition_key,
        run_id,

        ---------- numerics
        {{ json_count("core_metrics -> 'num_sessions'") }} as sessions,
        {{ json_count("core_metrics -> 'lines_of_code' -> 'added'") }} as lines_added,
        {{ json_count("core_metrics -> 'lines_of_code' -> 'removed'") }} as lines_removed,
        {{ json_count("core_metrics -> 'commits_by_claude_code'") }} as commits,
        {{ json_count("core_metrics -> 'pull_requests_by_claude_code'") }} as pull_requests,
        {{ json_count("tool_actions -> 'edit_tool' -> 'accepted'") }} as edit_tool_accepted,
        {{ json_count("tool_actions -> 'edit_tool' -> 'rejected'") }} as edit_tool_rejected,
        {{ json_count("tool_actions -> 'multi_edit_tool' -> 'accepted'") }}
            as multi_edit_tool_accepted,
        {{ json_count("tool_actions -> 'multi_edit_tool' -> 'rejected'") }}
            as multi_edit_tool_rejected,
        {{ json_count("tool_actions -> 'write_tool' -> 'accepted'") }} as write_tool_accepted,
        {{ json_count("tool_actions -> 'write_tool' -> 'rejected'") }} as write_tool_rejected,
        {{ json_count("tool_actions -> 'notebook_edit_tool' -> 'accepted'") }}
            as notebook_edit_tool_accepted,
        {{ json_count("tool_actions -> 'notebook_edit_tool' -> 'rejected'") }}
            as notebook_edit_tool_rejected,

        ---------- timestamps
        -- The report's date is a day ("2025-09-01") or that day's midnight in RFC 3339
        -- ("2025-09-01T00:00:00Z"); unreadable, it falls back to the load partition.
        coalesce(
            {{ safe_timestamptz("record ->> 'date'") }},
            {{ safe_timestamptz('partition_key') }}
        ) as reported_at,
        loaded_at

    from latest_loads

),

final as (

    select
        claude_code_user_day_id,
        organization_id,
        actor_type,
        user_email,
        api_key_name,
        customer_type,
        terminal_type,
        partition_key,
        run_id,
        sessions,
        lines_added,
        lines_removed,
        commits,
        pull_requests,
        edit_tool_accepted,
        edit_tool_rejected,
        multi_edit_tool_accepted,
        multi_edit_tool_rejected,
        write_tool_accepted,
        write_tool_rejected,
        notebook_edit_tool_accepted,
        notebook_edit_tool_rejected,
        edit_tool_accepted
        + multi_edit_tool_accepted
        + write_tool_accepted
        + notebook_edit_tool_accepted as tool_actions_accepted,
        edit_tool_rejected
        + multi_edit_tool_rejected
        + write_tool_rejected
        + notebook_edit_tool_rejected as tool_actions_rejected,
        (reported_at at time zone 'UTC')::date as activity_date,
        (reported_at at time zone 'UTC')::date::timestamp at time zone 'UTC'
            as activity_started_at,
        loaded_at
    from renamed

)

select * from final
