with

stripe_subscriptions as (

    select * from {{ source('stripe', 'stripe_subscriptions') }}

),

-- One snapshot of a subscription per day: the key is snapshot_date|id.
latest_loads as (

    select distinct on (natural_key)
        natural_key,
        partition_key,
        run_id,
        loaded_at,
        record
    from stripe_subscriptions
    where {{ in_run_partitions() }}
    order by natural_key asc, loaded_at desc, load_seq desc

),

unnested as (

    select
        latest_loads.partition_key,
        latest_loads.run_id,
        latest_loads.loaded_at,
        latest_loads.record as subscription_json,
        items.item
    from latest_loads
    cross join lateral jsonb_array_elements(
        case
            when jsonb_typeof(latest_loads.record -> 'items' -> 'data') = 'array'
                then latest_loads.record -> 'items' -> 'data'
            else '[]'::jsonb
        end
        || case
            when jsonb_typeof(latest_loads.record -> 'more_items') = 'array'
                then latest_loads.record -> 'more_items'
            else '[]'::jsonb
        end
    ) as items (item)

),

distinct_items as (

    select distinct on (subscription_json ->> 'snapshot_date', item ->> 'id') *
    from unnested
    order by subscription_json ->> 'snapshot_date' asc, item ->> 'id' asc

),

final as (

    select
        ---------- ids
        {{ json_text("item -> 'id'") }} as subscription_item_id,
        {{ json_text("subscription_json -> 'id'") }} as subscription_id,
        {{ json_text("subscription_json -> 'customer'") }} as stripe_customer_id,
        {{ json_text("item -> 'price' -> 'id'") }} as price_id,
        coalesce(
            {{ json_text("item -> 'price' -> 'product' -> 'id'") }},
            {{ json_text("item -> 'price' -> 'product'") }}
        ) as product_id,

        ---------- strings
        {{ json_text("subscription_json -> 'status'") }} as subscription_status,
        upper({{ json_text("item -> 'price' -> 'currency'") }}) as currency,
        {{ json_text("item -> 'price' -> 'billing_scheme'") }} as billing_scheme,
        {{ json_text("item -> 'price' -> 'recurring' -> 'interval'") }}
            as recurring_interval,
        {{ json_text("item -> 'price' -> 'recurring' -> 'usage_type'") }}
            as usage_type,
        {{ json_text("item -> 'price' -> 'nickname'") }} as price_nickname,
        partition_key,
        run_id,

        ---------- numerics
        -- unit_amount_decimal keeps fractions of the smallest unit; unit_amount does
        -- not. Tiered prices have neither, and no fixed MRR.
        coalesce(
            {{ safe_numeric("item -> 'price' -> 'unit_amount_decimal'") }},
            {{ safe_numeric("item -> 'price' -> 'unit_amount'") }}
        ) as unit_amount_minor,
        {{ safe_bigint("item -> 'price' -> 'recurring' -> 'interval_count'") }}
            as recurring_interval_count,
        coalesce({{ safe_bigint("item -> 'quantity'") }}, 1) as quantity,

        ---------- dates and timestamps
        (
            coalesce(
                {{ safe_timestamptz(json_text("subscription_json -> 'snapshot_date'")) }},
                {{ safe_timestamptz('partition_key') }}
            ) at time zone 'UTC'
        )::date as snapshot_date,
        {{ safe_unix_timestamptz("subscription_json -> 'start_date'") }} as started_at,
        {{ safe_unix_timestamptz("subscription_json -> 'ended_at'") }} as ended_at,
        {{ safe_unix_timestamptz("subscription_json -> 'trial_end'") }} as trial_ended_at,
        loaded_at

    from distinct_items

)

select * from final
