with

gcp_catalog_prices as (

    select * from {{ source('gcp', 'gcp_catalog_prices') }}

),

-- A snapshot day holds each SKU once; keep the latest load of each day's SKU, not of
-- each SKU, so the price history stays.
latest_loads as (

    select distinct on (partition_key, natural_key)
        natural_key,
        partition_key,
        run_id,
        loaded_at,
        record,
        record -> 'pricingInfo' -> 0 -> 'pricingExpression' as pricing
    from gcp_catalog_prices
    order by partition_key asc, natural_key asc, loaded_at desc, load_seq desc

),

tiers as (

    -- The API leaves a zero units, nanos or startUsageAmount out.
    select
        latest_loads.partition_key,
        latest_loads.natural_key,
        count(rate.value) as tier_count,
        max(
            coalesce({{ safe_numeric("rate.value -> 'unitPrice' -> 'units'") }}, 0)
            + coalesce({{ safe_numeric("rate.value -> 'unitPrice' -> 'nanos'") }}, 0)
            / 1000000000
        ) as highest_tier_price
    from latest_loads
    left join lateral jsonb_array_elements(
        case
            when jsonb_typeof(latest_loads.pricing -> 'tieredRates') = 'array'
                then latest_loads.pricing -> 'tieredRates'
            else '[]'::jsonb
        end
    ) as rate (value) on true
    group by latest_loads.partition_key, latest_loads.natural_key

),

final as (

    select
        ---------- ids
        latest_loads.partition_key || '|' || latest_loads.natural_key as catalog_price_id,
        {{ json_text("latest_loads.record -> 'skuId'") }} as sku_id,
        {{ json_text("latest_loads.record -> 'service_id'") }} as service_id,

        ---------- strings
        {{ json_text("latest_loads.record -> 'description'") }} as sku_description,
        {{ json_text("latest_loads.record -> 'category' -> 'serviceDisplayName'") }}
            as service_name,
        {{ json_text("latest_loads.record -> 'category' -> 'resourceFamily'") }}
            as resource_family,
        {{ json_text("latest_loads.record -> 'category' -> 'usageType'") }} as usage_type,
        {{ json_text("latest_loads.pricing -> 'usageUnit'") }} as usage_unit,
        {{ json_text("latest_loads.pricing -> 'usageUnitDescription'") }}
            as usage_unit_description,
        upper({{ json_text("latest_loads.record -> 'currency_code'") }}) as currency,
        latest_loads.partition_key,
        latest_loads.run_id,

        ---------- numerics
        -- List price per usage unit: the highest tier's rate, i.e. the undiscounted one
        -- (a free tier or volume tiers only lower it). Null without any tier.
        case
            when tiers.tier_count > 0 then trim_scale(tiers.highest_tier_price)
        end as list_unit_price,
        tiers.tier_count,

        ---------- jsonb
        case
            when jsonb_typeof(latest_loads.record -> 'serviceRegions') = 'array'
                then latest_loads.record -> 'serviceRegions'
            else '[]'::jsonb
        end as service_regions,

        ---------- timestamps
        {{ safe_timestamptz('latest_loads.partition_key') }} as snapshot_at,
        {{ safe_timestamptz(json_text(
            "latest_loads.record -> 'pricingInfo' -> 0 -> 'effectiveTime'"
        )) }} as price_effective_at,
        latest_loads.loaded_at

    from latest_loads
    inner join tiers
        on
            latest_loads.partition_key = tiers.partition_key
            and latest_loads.natural_key = tiers.natural_key

)

select * from final
