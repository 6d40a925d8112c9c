with

focus_rows as (

    select * from {{ source('focus', 'focus_rows') }}

),

latest_loads as (

    -- A file is one partition, replaced whole when it is delivered again, so a natural
    -- key (file and row) appears once; the guard costs little and matches the other
    -- staging models.
    select distinct on (focus_rows.natural_key)
        focus_rows.natural_key,
        focus_rows.partition_key,
        focus_rows.run_id,
        focus_rows.loaded_at,
        focus_rows.record,
        (
            select coalesce(jsonb_object_agg(custom.key, custom.value), '{}'::jsonb)
            from jsonb_each(focus_rows.record) as custom (key, value)
            where custom.key like 'x\_%'
        ) as x_columns
    from focus_rows
    order by
        focus_rows.natural_key asc,
        focus_rows.loaded_at desc,
        focus_rows.load_seq desc

),

final as (

    select
        ---------- ids
        natural_key as focus_row_id,
        {{ json_text("record -> '_import' -> 'file'") }} as file_uri,
        {{ safe_bigint("record -> '_import' -> 'row'") }} as file_row_number,
        {{ json_text("record -> 'BillingAccountId'") }} as billing_account_id,
        {{ json_text("record -> 'SubAccountId'") }} as sub_account_id,
        {{ json_text("record -> 'InvoiceId'") }} as invoice_id,
        {{ json_text("record -> 'ResourceId'") }} as resource_id,
        {{ json_text("record -> 'SkuId'") }} as sku_id,
        {{ json_text("record -> 'SkuPriceId'") }} as sku_price_id,
        {{ json_text("record -> 'CommitmentDiscountId'") }}
            as commitment_discount_id,
        {{ json_text("record -> 'CapacityReservationId'") }}
            as capacity_reservation_id,

        ---------- strings
        {{ json_text("record -> '_import' -> 'focus_version'") }} as focus_version,
        {{ json_text("record -> '_import' -> 'provider_name'") }}
            as provider_name_override,
        {{ json_text("record -> 'AvailabilityZone'") }} as availability_zone,
        {{ json_text("record -> 'BillingAccountName'") }} as billing_account_name,
        {{ json_text("record -> 'BillingAccountType'") }} as billing_account_type,
        upper({{ json_text("record -> 'BillingCurrency'") }}) as billing_currency,
        {{ json_text("record -> 'CapacityReservationStatus'") }}
            as capacity_reservation_status,
        {{ json_text("record -> 'ChargeCategory'") }} as charge_category,
        {{ json_text("record -> 'ChargeClass'") }} as charge_class,
        {{ json_text("record -> 'ChargeDescription'") }} as charge_description,
        {{ json_text("record -> 'ChargeFrequency'") }} as charge_frequency,
        {{ json_text("record -> 'CommitmentDiscountCategory'") }}
            as commitment_discount_category,
        {{ json_text("record -> 'CommitmentDiscountName'") }}
            as commitment_discount_name,
        {{ json_text("record -> 'CommitmentDiscountStatus'") }}
            as commitment_discount_status,
        {{ json_text("record -> 'CommitmentDiscountType'") }}
            as commitment_discount_type,
        {{ json_text("record -> 'CommitmentDiscountUnit'") }}
            as commitment_discount_unit,
        {{ json_text("record -> 'ConsumedUnit'") }} as consumed_unit,
        {{ json_text("record -> 'InvoiceIssuerName'") }} as invoice_issuer_name,
        {{ json_text("record -> 'PricingCategory'") }} as pricing_category,
        {{ json_text("record -> 'PricingCurrency'") }} as pricing_currency,
        {{ json_text("record -> 'PricingUnit'") }} as pricing_unit,
        {{ json_text("record -> 'ProviderName'") }} as provider_name,
        {{ json_text("record -> 'PublisherName'") }} as publisher_name,
        {{ json_text("record -> 'RegionId'") }} as region_id,
        {{ json_text("record -> 'RegionName'") }} as region_name,
        {{ json_text("record -> 'ResourceName'") }} as resource_name,
        {{ json_text("record -> 'ResourceType'") }} as resource_type,
        {{ json_text("record -> 'ServiceCategory'") }} as service_category,
        {{ json_text("record -> 'ServiceName'") }} as service_name,
        {{ json_text("record -> 'ServiceSubcategory'") }} as service_subcategory,
        {{ json_text("record -> 'SkuMeter'") }} as sku_meter,
        {{ json_text("record -> 'SubAccountName'") }} as sub_account_name,
        {{ json_text("record -> 'SubAccountType'") }} as sub_account_type,
        partition_key,
        run_id,

        ---------- numerics
        -- The importer stores every amount as the text the file had and refuses a file
        -- whose costs or quantities are not numbers, so these casts are exact.
        {{ safe_numeric("record -> 'BilledCost'") }} as billed_cost,
        {{ safe_numeric("record -> 'EffectiveCost'") }} as effective_cost,
        {{ safe_numeric("record -> 'ListCost'") }} as list_cost,
        {{ safe_numeric("record -> 'ContractedCost'") }} as contracted_cost,
        {{ safe_numeric("record -> 'ListUnitPrice'") }} as list_unit_price,
        {{ safe_numeric("record -> 'ContractedUnitPrice'") }} as contracted_unit_price,
        {{ safe_numeric("record -> 'PricingQuantity'") }} as pricing_quantity,
        {{ safe_numeric("record -> 'ConsumedQuantity'") }} as consumed_quantity,
        {{ safe_numeric("record -> 'CommitmentDiscountQuantity'") }}
            as commitment_discount_quantity,
        {{ safe_numeric("record -> 'PricingCurrencyListUnitPrice'") }}
            as pricing_currency_list_unit_price,
        {{ safe_numeric("record -> 'PricingCurrencyContractedUnitPrice'") }}
            as pricing_currency_contracted_unit_price,
        {{ safe_numeric("record -> 'PricingCurrencyEffectiveCost'") }}
            as pricing_currency_effective_cost,

        ---------- jsonb
        case
            when jsonb_typeof(record -> 'Tags') = 'object' then record -> 'Tags'
        end as tags,
        case
            when jsonb_typeof(record -> 'SkuPriceDetails') = 'object'
                then record -> 'SkuPriceDetails'
        end as sku_price_details,
        x_columns,
        coalesce(record -> '_other_columns', '{}'::jsonb) as other_columns,

        ---------- timestamps
        {{ safe_timestamptz(json_text("record -> 'BillingPeriodStart'")) }}
            as billing_period_start,
        {{ safe_timestamptz(json_text("record -> 'BillingPeriodEnd'")) }}
            as billing_period_end,
        {{ safe_timestamptz(json_text("record -> 'ChargePeriodStart'")) }}
            as charge_period_start,
        {{ safe_timestamptz(json_text("record -> 'ChargePeriodEnd'")) }}
            as charge_period_end,
        loaded_at

    from latest_loads

)

select * from final
