with

stripe_invoices as (

    select * from {{ source('stripe', 'stripe_invoices') }}

),

latest_loads as (

    select distinct on (natural_key)
        natural_key,
        partition_key,
        run_id,
        loaded_at,
        record
    from stripe_invoices
    where {{ in_run_partitions() }}
    order by natural_key asc, loaded_at desc, load_seq desc

),

-- The embedded first page of lines and the pages the collector read after it.
unnested as (

    select
        latest_loads.natural_key as invoice_id,
        latest_loads.partition_key,
        latest_loads.run_id,
        latest_loads.loaded_at,
        latest_loads.record as invoice,
        line_elements.line_json
    from latest_loads
    cross join lateral jsonb_array_elements(
        case
            when jsonb_typeof(latest_loads.record -> 'lines' -> 'data') = 'array'
                then latest_loads.record -> 'lines' -> 'data'
            else '[]'::jsonb
        end
        || case
            when jsonb_typeof(latest_loads.record -> 'more_lines') = 'array'
                then latest_loads.record -> 'more_lines'
            else '[]'::jsonb
        end
    ) as line_elements (line_json)

),

-- A line that came on two pages (a list that changed while it was read) counts once.
distinct_lines as (

    select distinct on (invoice_id, line_json ->> 'id') *
    from unnested
    order by invoice_id asc, line_json ->> 'id' asc

),

final as (

    select
        ---------- ids
        {{ json_text("line_json -> 'id'") }} as invoice_line_id,
        invoice_id,
        {{ json_text("invoice -> 'customer'") }} as stripe_customer_id,
        coalesce(
            {{ json_text(
                "line_json -> 'parent' -> 'subscription_item_details' -> 'subscription'"
            ) }},
            {{ json_text("line_json -> 'subscription'") }}
        ) as subscription_id,
        {{ json_text(
            "line_json -> 'parent' -> 'subscription_item_details' -> 'subscription_item'"
        ) }} as subscription_item_id,
        -- API versions from 2025 name the price under pricing; older ones under price.
        coalesce(
            {{ json_text("line_json -> 'pricing' -> 'price_details' -> 'price'") }},
            {{ json_text("line_json -> 'price' -> 'id'") }}
        ) as price_id,
        coalesce(
            {{ json_text("line_json -> 'pricing' -> 'price_details' -> 'product'") }},
            {{ json_text("line_json -> 'price' -> 'product'") }}
        ) as product_id,

        ---------- strings
        {{ json_text("invoice -> 'number'") }} as invoice_number,
        {{ json_text("invoice -> 'status'") }} as invoice_status,
        upper({{ json_text("line_json -> 'currency'") }}) as currency,
        {{ json_text("line_json -> 'description'") }} as description,
        partition_key,
        run_id,

        ---------- numerics
        -- In the currency's smallest unit, before discounts and taxes.
        {{ safe_bigint("line_json -> 'amount'") }} as amount_minor,
        {{ safe_bigint("line_json -> 'quantity'") }} as quantity,

        ---------- booleans
        coalesce(
            {{ safe_boolean(
                "line_json -> 'parent' -> 'subscription_item_details' -> 'proration'"
            ) }},
            {{ safe_boolean("line_json -> 'proration'") }}
        ) as is_proration,

        ---------- timestamps
        {{ safe_unix_timestamptz("invoice -> 'created'") }} as invoice_created_at,
        {{ safe_unix_timestamptz("line_json -> 'period' -> 'start'") }} as period_started_at,
        {{ safe_unix_timestamptz("line_json -> 'period' -> 'end'") }} as period_ended_at,
        loaded_at

    from distinct_lines

)

select * from final
