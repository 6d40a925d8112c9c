with

anthropic_cost_report as (

    select * from {{ source('anthropic', 'anthropic_cost_report') }}

),

latest_loads as (

    select distinct on (natural_key)
        natural_key,
        partition_key,
        run_id,
        loaded_at,
        record
    from anthropic_cost_report
    where {{ in_run_partitions() }}
    order by natural_key asc, loaded_at desc, load_seq desc

),

renamed as (

    select
        ---------- ids
        natural_key as cost_item_id,
        {{ json_text("record -> 'workspace_id'") }} as workspace_id,

        ---------- strings
        {{ json_text("record -> 'model'") }} as model,
        {{ json_text("record -> 'description'") }} as description,
        {{ json_text("record -> 'cost_type'") }} as cost_type,
        {{ json_text("record -> 'token_type'") }} as token_type,
        {{ json_text("record -> 'service_tier'") }} as service_tier,
        {{ json_text("record -> 'context_window'") }} as context_window,
        upper({{ json_text("record -> 'currency'") }}) as currency,
        partition_key,
        run_id,

        ---------- numerics
        -- The report states amounts in cents, as decimal strings ("123.45" = $1.2345).
        -- trim_scale drops the trailing zeros that numeric division pads on.
        {{ safe_numeric("record -> 'amount'") }} as amount_cents,
        trim_scale({{ safe_numeric("record -> 'amount'") }} / 100) as amount_usd,

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
