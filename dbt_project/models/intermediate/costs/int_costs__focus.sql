{{ config(tags=['costs_source']) }}

{#-
    FOCUS files' rows as ledger lines, one per row. The ledger's columns are FOCUS 1.2's,
    so they map one to one; provider_name is the location's provider_name override where
    it has one. tags is the row's Tags object, plus its x_ columns by their own names and
    its columns outside FOCUS as x_<name> (an x_ column of the same name wins; empty
    values are dropped). The files are invoiced data, never estimates. FOCUS columns the
    ledger does not carry (capacity reservations, pricing currency, SkuPriceDetails)
    stay in stg_focus__rows.
-#}

with

focus_rows as (

    select * from {{ ref('stg_focus__rows') }}

),

merged as (

    -- Lowest precedence first: a later object's key wins.
    select
        focus_rows.*,
        coalesce(
            (
                select jsonb_object_agg('x_' || other.key, other.value)
                from jsonb_each(focus_rows.other_columns) as other (key, value)
            ),
            '{}'::jsonb
        )
        || coalesce(focus_rows.tags, '{}'::jsonb)
        || focus_rows.x_columns as merged_tags
    from focus_rows

),

tagged as (

    select
        merged.*,
        (
            select jsonb_object_agg(tag.key, tag.value)
            from jsonb_each(merged.merged_tags) as tag (key, value)
            where tag.value not in ('null'::jsonb, '""'::jsonb)
        ) as ledger_tags
    from merged

),

final as (

    select
        ---------- ids
        {{ cost_id("'focus'", "focus_row_id") }} as x_cost_id,
        'focus' as x_source_system,
        billing_account_id,
        sub_account_id,
        invoice_id,
        resource_id,
        sku_id,
        sku_price_id,
        commitment_discount_id,

        ---------- strings
        billing_account_name,
        billing_account_type,
        billing_currency,
        sub_account_name,
        sub_account_type,
        invoice_issuer_name,
        coalesce(provider_name_override, provider_name) as provider_name,
        publisher_name,
        charge_category,
        charge_class,
        charge_description,
        charge_frequency,
        service_category,
        service_subcategory,
        service_name,
        pricing_category,
        pricing_unit,
        consumed_unit,
        sku_meter,
        resource_name,
        resource_type,
        region_id,
        region_name,
        availability_zone,
        commitment_discount_name,
        commitment_discount_type,
        commitment_discount_category,
        commitment_discount_status,
        null as x_department,
        null as x_team,
        null as x_user_email,
        null as x_project,
        null as x_customer,
        null as x_feature,
        null as x_cost_category,
        null as x_environment,

        ---------- numerics
        billed_cost,
        effective_cost,
        list_cost,
        contracted_cost,
        list_unit_price,
        contracted_unit_price,
        pricing_quantity,
        consumed_quantity,

        ---------- jsonb
        ledger_tags as tags,

        ---------- booleans
        false as x_estimated,

        ---------- timestamps
        billing_period_start,
        billing_period_end,
        charge_period_start,
        charge_period_end

    from tagged

)

select * from final
