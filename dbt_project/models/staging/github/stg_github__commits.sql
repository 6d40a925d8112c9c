with

github_commits as (

    select * from {{ source('github', 'github_commits') }}

),

latest_loads as (

    select distinct on (natural_key)
        natural_key,
        partition_key,
        run_id,
        loaded_at,
        record
    from github_commits
    where {{ in_run_partitions() }}
    order by natural_key asc, loaded_at desc, load_seq desc

),

final as (

    select
        ---------- ids
        natural_key as commit_id,
        {{ json_text("record -> 'sha'") }} as commit_sha,
        {{ json_text("record -> 'repository'") }} as repository,

        ---------- strings
        -- The GitHub account the commit's email belongs to; null when none does.
        {{ json_text("record -> 'author' -> 'login'") }} as author_login,
        {{ json_text("record -> 'author' -> 'type'") }} as author_type,
        {{ json_text("record -> 'commit' -> 'author' -> 'name'") }} as author_name,
        lower({{ json_text("record -> 'commit' -> 'author' -> 'email'") }})
            as author_email,
        split_part({{ json_text("record -> 'commit' -> 'message'") }}, chr(10), 1)
            as message_subject,
        partition_key,
        run_id,

        ---------- booleans
        coalesce(jsonb_array_length(
            case
                when jsonb_typeof(record -> 'parents') = 'array'
                    then record -> 'parents'
            end
        ) > 1, false) as is_merge_commit,

        ---------- timestamps
        {{ safe_timestamptz(json_text("record -> 'commit' -> 'author' -> 'date'")) }}
            as authored_at,
        -- GitHub's since/until filter on the committer date: the day a commit counts on.
        coalesce(
            {{ safe_timestamptz(json_text("record -> 'commit' -> 'committer' -> 'date'")) }},
            {{ safe_timestamptz(json_text("record -> 'commit' -> 'author' -> 'date'")) }}
        ) as committed_at,
        loaded_at

    from latest_loads

)

select * from final
