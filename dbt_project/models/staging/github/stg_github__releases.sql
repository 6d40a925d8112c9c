with

github_releases as (

    select * from {{ source('github', 'github_releases') }}

),

latest_loads as (

    select distinct on (natural_key)
        natural_key,
        partition_key,
        run_id,
        loaded_at,
        record
    from github_releases
    where {{ in_run_partitions() }}
    order by natural_key asc, loaded_at desc, load_seq desc

),

final as (

    select
        ---------- ids
        natural_key as release_key,
        {{ safe_bigint("record -> 'id'") }} as release_id,
        {{ json_text("record -> 'repository'") }} as repository,

        ---------- strings
        {{ json_text("record -> 'tag_name'") }} as tag_name,
        {{ json_text("record -> 'name'") }} as release_name,
        {{ json_text("record -> 'author' -> 'login'") }} as author_login,
        partition_key,
        run_id,

        ---------- booleans
        coalesce({{ safe_boolean("record -> 'draft'") }}, false) as is_draft,
        coalesce({{ safe_boolean("record -> 'prerelease'") }}, false) as is_prerelease,

        ---------- timestamps
        {{ safe_timestamptz(json_text("record -> 'created_at'")) }} as created_at,
        {{ safe_timestamptz(json_text("record -> 'published_at'")) }} as published_at,
        loaded_at

    from latest_loads

)

select * from final
