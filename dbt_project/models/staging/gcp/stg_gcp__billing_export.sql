with

gcp_billing_export as (

    select * from {{ source('gcp', 'gcp_billing_export') }}

),

latest_loads as (

    select distinct on (natural_key)
        natural_key,
        partition_key,
        run_id,
        loaded_at,
        record
    from gcp_billing_export
    where {{ in_run_partitions() }}
    order by natural_key asc, loaded_at desc, load_seq desc

),

credit_totals as (

    -- The credits of each row, summed; null when one of them cannot be read, so that
    -- a credit is never silently dropped from net_cost.
    select
        latest_loads.natural_key,
        count(credit.value) as credit_count,
        case
            when count(credit.value) = count({{ safe_numeric("credit.value -> 'amount'") }})
                then coalesce(sum({{ safe_numeric("credit.value -> 'amount'") }}), 0)
        end as credits_total
    from latest_loads
    left join lateral jsonb_array_elements(
        case
            when jsonb_typeof(latest_loads.record -> 'credits') = 'array'
                then latest_loads.record -> 'credits'
            else '[]'::jsonb
        end
    ) as credit (value) on true
    group by latest_loads.natural_key

),

typed as (

    select
        latest_loads.natural_key,
        latest_loads.partition_key,
        latest_loads.run_id,
        latest_loads.loaded_at,
        latest_loads.record,
        credit_totals.credit_count,
        credit_totals.credits_total,
        {{ safe_numeric("latest_loads.record -> 'cost'") }} as cost,  -- noqa: RF04
        {{ gcp_key_value_object("latest_loads.record -> 'labels'") }} as resource_labels,
        {{ gcp_key_value_object("latest_loads.record -> 'project' -> 'labels'") }}
            as project_labels
    from latest_loads
    inner join credit_totals
        on latest_loads.natural_key = credit_totals.natural_key

),

final as (

    select
        ---------- ids
        natural_key as billing_row_id,
        {{ json_text("record -> 'billing_account_id'") }} as billing_account_id,
        {{ json_text("record -> 'service' -> 'id'") }} as service_id,
        {{ json_text("record -> 'sku' -> 'id'") }} as sku_id,
        {{ json_text("record -> 'project' -> 'id'") }} as project_id,
        {{ json_text("record -> 'project' -> 'number'") }} as project_number,
        {{ json_text("record -> 'resource' -> 'name'") }} as resource_name,
        {{ json_text("record -> 'resource' -> 'global_name'") }} as resource_global_name,
        {{ json_text("record -> 'adjustment_info' -> 'id'") }} as adjustment_id,

        ---------- strings
        {{ json_text("record -> 'billing_account_name'") }} as billing_account_name,
        {{ json_text("record -> 'service' -> 'description'") }} as service_name,
        {{ json_text("record -> 'sku' -> 'description'") }} as sku_description,
        {{ json_text("record -> 'project' -> 'name'") }} as project_name,
        {{ json_text("record -> 'location' -> 'location'") }} as location,  -- noqa: RF04
        {{ json_text("record -> 'location' -> 'country'") }} as location_country,
        {{ json_text("record -> 'location' -> 'region'") }} as location_region,
        {{ json_text("record -> 'location' -> 'zone'") }} as location_zone,
        upper({{ json_text("record -> 'currency'") }}) as currency,
        {{ json_text("record -> 'usage' -> 'unit'") }} as usage_unit,
        {{ json_text("record -> 'usage' -> 'pricing_unit'") }} as usage_pricing_unit,
        case
            when
                {{ json_text("record -> 'invoice' -> 'month'") }}
                ~ '^[0-9]{4}(0[1-9]|1[0-2])$'
                then {{ json_text("record -> 'invoice' -> 'month'") }}
        end as invoice_month,
        lower({{ json_text("record -> 'cost_type'") }}) as cost_type,
        {{ json_text("record -> 'adjustment_info' -> 'type'") }} as adjustment_type,
        {{ json_text("record -> 'adjustment_info' -> 'mode'") }} as adjustment_mode,
        {{ json_text("record -> 'adjustment_info' -> 'description'") }}
            as adjustment_description,
        {{ json_text("record -> 'transaction_type'") }} as transaction_type,
        {{ json_text("record -> 'seller_name'") }} as seller_name,
        {{ json_text("record -> 'price' -> 'unit'") }} as price_unit,
        partition_key,
        run_id,

        ---------- numerics
        -- FLOAT64 in BigQuery, stored as the shortest text that reads back as the same
        -- double, so numeric adds no error of its own.
        cost,
        credits_total,
        cost + credits_total as net_cost,
        credit_count,
        {{ safe_numeric("record -> 'cost_at_list'") }} as cost_at_list,
        {{ safe_numeric("record -> 'currency_conversion_rate'") }} as currency_conversion_rate,
        {{ safe_numeric("record -> 'usage' -> 'amount'") }} as usage_amount,
        {{ safe_numeric("record -> 'usage' -> 'amount_in_pricing_units'") }}
            as usage_amount_in_pricing_units,
        {{ safe_numeric("record -> 'price' -> 'effective_price'") }} as price_effective_price,
        {{ safe_numeric("record -> 'price' -> 'tier_start_amount'") }}
            as price_tier_start_amount,
        {{ safe_numeric("record -> 'price' -> 'pricing_unit_quantity'") }}
            as price_pricing_unit_quantity,
        {{ safe_bigint("record -> 'occurrence'") }} as occurrence,

        ---------- jsonb
        resource_labels,
        project_labels,
        -- A resource's own label wins over its project's label of the same key.
        project_labels || resource_labels as labels,
        {{ gcp_key_value_object("record -> 'system_labels'") }} as system_labels,
        case
            when jsonb_typeof(record -> 'credits') = 'array' then record -> 'credits'
            else '[]'::jsonb
        end as credits,

        ---------- timestamps
        coalesce(
            {{ safe_timestamptz(json_text("record -> 'usage_start_time'")) }},
            {{ safe_timestamptz('partition_key') }}
        ) as usage_started_at,
        {{ safe_timestamptz(json_text("record -> 'usage_end_time'")) }} as usage_ended_at,
        {{ safe_timestamptz(json_text("record -> 'export_time'")) }} as exported_at,
        loaded_at

    from typed

)

select * from final
