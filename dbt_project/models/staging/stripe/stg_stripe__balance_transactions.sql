with

stripe_balance_transactions as (

    select * from {{ source('stripe', 'stripe_balance_transactions') }}

),

latest_loads as (

    select distinct on (natural_key)
        natural_key,
        partition_key,
        run_id,
        loaded_at,
        record
    from stripe_balance_transactions
    where {{ in_run_partitions() }}
    order by natural_key asc, loaded_at desc, load_seq desc

),

final as (

    select
        ---------- ids
        natural_key as balance_transaction_id,
        -- The source is an id, or the object itself when it was expanded.
        coalesce(
            {{ json_text("record -> 'source' -> 'id'") }},
            {{ json_text("record -> 'source'") }}
        ) as source_id,
        {{ json_text("record -> 'source' -> 'customer'") }} as source_customer_id,
        -- A refund or dispute names the charge it takes money back from.
        {{ json_text("record -> 'source' -> 'charge'") }} as source_charge_id,

        ---------- strings
        {{ json_text("record -> 'type'") }} as transaction_type,
        {{ json_text("record -> 'reporting_category'") }} as reporting_category,
        {{ json_text("record -> 'source' -> 'object'") }} as source_object,
        upper({{ json_text("record -> 'currency'") }}) as currency,
        upper({{ json_text("record -> 'source' -> 'currency'") }}) as source_currency,
        {{ json_text("record -> 'status'") }} as transaction_status,
        {{ json_text("record -> 'description'") }} as description,
        partition_key,
        run_id,

        ---------- numerics
        -- In the settlement currency's smallest unit (cents, yen...), as Stripe
        -- states them; int_metrics__stripe divides by the currency's exponent.
        {{ safe_bigint("record -> 'amount'") }} as amount_minor,
        {{ safe_bigint("record -> 'fee'") }} as fee_minor,
        {{ safe_bigint("record -> 'net'") }} as net_minor,
        {{ safe_numeric("record -> 'exchange_rate'") }} as exchange_rate,

        ---------- timestamps
        {{ safe_unix_timestamptz("record -> 'created'") }} as created_at,
        {{ safe_unix_timestamptz("record -> 'available_on'") }} as available_at,
        loaded_at

    from latest_loads

)

select * from final
