with

stripe_customers as (

    select * from {{ source('stripe', 'stripe_customers') }}

),

latest_loads as (

    select distinct on (natural_key)
        natural_key,
        partition_key,
        run_id,
        loaded_at,
        record
    from stripe_customers
    where {{ in_run_partitions() }}
    order by natural_key asc, loaded_at desc, load_seq desc

),

final as (

    select
        ---------- ids
        natural_key as stripe_customer_id,
        -- The metadata key the collector was configured with names the house customer.
        {{ json_text(
            "record -> 'metadata' -> coalesce("
            ~ "record ->> 'house_customer_key', 'house_customer')"
        ) }} as house_customer,

        ---------- strings
        {{ json_text("record -> 'name'") }} as customer_name,
        {{ json_text("record -> 'email'") }} as email,
        upper({{ json_text("record -> 'currency'") }}) as currency,
        partition_key,
        run_id,

        ---------- timestamps
        {{ safe_unix_timestamptz("record -> 'created'") }} as created_at,
        loaded_at

    from latest_loads

)

select * from final
