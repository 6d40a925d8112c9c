with

github_pull_requests as (

    select * from {{ source('github', 'github_pull_requests') }}

),

-- A pull request is loaded on each day something happened to it; the latest load
-- holds its current state.
latest_loads as (

    select distinct on (natural_key)
        natural_key,
        partition_key,
        run_id,
        loaded_at,
        record
    from github_pull_requests
    where {{ in_run_partitions() }}
    order by natural_key asc, loaded_at desc, load_seq desc

),

final as (

    select
        ---------- ids
        natural_key as pull_request_key,
        {{ safe_bigint("record -> 'id'") }} as pull_request_id,
        {{ json_text("record -> 'repository'") }} as repository,
        {{ safe_bigint("record -> 'number'") }} as pull_request_number,

        ---------- strings
        {{ json_text("record -> 'user' -> 'login'") }} as author_login,
        {{ json_text("record -> 'user' -> 'type'") }} as author_type,
        {{ json_text("record -> 'merged_by' -> 'login'") }} as merged_by_login,
        {{ json_text("record -> 'state'") }} as pull_request_state,
        {{ json_text("record -> 'title'") }} as title,
        {{ json_text("record -> 'base' -> 'ref'") }} as base_branch,
        partition_key,
        run_id,

        ---------- numerics
        -- Only the single pull request endpoint states these; null from the list.
        {{ safe_bigint("record -> 'additions'") }} as additions,
        {{ safe_bigint("record -> 'deletions'") }} as deletions,
        {{ safe_bigint("record -> 'changed_files'") }} as changed_files,
        {{ safe_bigint("record -> 'commits'") }} as commit_count,

        ---------- booleans
        coalesce({{ safe_boolean("record -> 'draft'") }}, false) as is_draft,

        ---------- timestamps
        {{ safe_timestamptz(json_text("record -> 'created_at'")) }} as created_at,
        {{ safe_timestamptz(json_text("record -> 'updated_at'")) }} as updated_at,
        {{ safe_timestamptz(json_text("record -> 'closed_at'")) }} as closed_at,
        {{ safe_timestamptz(json_text("record -> 'merged_at'")) }} as merged_at,
        loaded_at

    from latest_loads

)

select * from final
