with

openai_costs as (

    select * from {{ source('openai', 'openai_costs') }}

),

latest_loads as (

    select distinct on (natural_key)
        natural_key,
        partition_key,
        run_id,
        loaded_at,
        record
    from openai_costs
    where {{ in_run_partitions() }}
    order by natural_key asc, loaded_at desc, load_seq desc

),

final as (

    select
        ---------- ids
        natural_key as cost_item_id,
        {{ json_text("record -> 'project_id'") }} as project_id,

        ---------- strings
        {{ json_text("record -> 'line_item'") }} as line_item,
        upper({{ json_text("record -> 'amount' -> 'currency'") }}) as currency,
        partition_key,
        run_id,

        ---------- numerics
        -- The API states dollars as a JSON number (a float on its side); jsonb keeps
        -- the digits it was sent, so the cast to numeric adds no float error.
        {{ safe_numeric("record -> 'amount' -> 'value'") }} as amount_usd,

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
