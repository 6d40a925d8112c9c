{#-
    Datadog's estimated cost is cumulative: each date's cost is what the month has cost
    so far. It stays cumulative here; int_costs__datadog takes each date's own cost as
    the difference from the previous date of the same month.
-#}

with

datadog_estimated_cost as (

    select * from {{ source('datadog', 'datadog_estimated_cost') }}

),

latest_loads as (

    select distinct on (natural_key)
        natural_key,
        partition_key,
        run_id,
        loaded_at,
        record
    from datadog_estimated_cost
    where {{ in_run_partitions() }}
    order by natural_key asc, loaded_at desc, load_seq desc

),

final as (

    select
        ---------- ids
        natural_key as estimated_cost_id,
        {{ json_text("record -> 'public_id'") }} as org_public_id,
        coalesce(
            {{ json_text("record -> 'account_public_id'") }},
            {{ json_text("record -> 'public_id'") }}
        ) as account_public_id,

        ---------- strings
        {{ json_text("record -> 'org_name'") }} as org_name,
        coalesce(
            {{ json_text("record -> 'account_name'") }},
            {{ json_text("record -> 'org_name'") }}
        ) as account_name,
        {{ json_text("record -> 'region'") }} as datadog_region,
        {{ json_text("record -> 'product_name'") }} as product_name,
        {{ json_text("record -> 'charge_type'") }} as charge_type,
        partition_key,
        run_id,

        ---------- numerics
        -- A JSON number (a float on Datadog's side); jsonb keeps the digits it was sent.
        {{ safe_numeric("record -> 'cost'") }} as month_to_date_cost_usd,

        ---------- dates
        ({{ safe_timestamptz("record ->> 'date'") }} at time zone 'UTC')::date as cost_date,

        ---------- timestamps
        loaded_at

    from latest_loads

)

select * from final
