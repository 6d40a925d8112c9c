{{ config(tags=['costs_source']) }}

{#-
    Cloud Billing export rows as ledger lines, one per exported row (the export is
    already hourly or finer; the ledger's charge period is the row's UTC usage day).

    - Credits stay on the line they reduce: billed_cost and effective_cost are cost plus
      the row's credits (net cost), as FOCUS's BilledCost includes every discount, and a
      credit then follows its usage's project and labels into attribution. Separate
      Credit lines would leave usage lines looking dearer than they were billed.
      contracted_cost is cost before credits (the price the account pays, before
      promotions and usage discounts); the credits are contracted_cost - billed_cost.
    - list_cost is the export's cost_at_list; else, for a line with usage, the catalog's
      list price times usage.amount_in_pricing_units (from the latest snapshot up to the
      usage day, else the earliest after it, and only when the catalog prices the SKU in
      the export's pricing unit; a USD price is converted with the row's
      currency_conversion_rate); else cost. Falling back to cost, not billed_cost, keeps
      list_cost >= contracted_cost >= billed_cost when credits apply.
    - charge_category by cost_type: regular is Usage, tax is Tax, adjustment and
      rounding_error are Adjustment; a usage or price correction is charge_class
      Correction.
    - billing_period is invoice.month (Cloud Billing's invoice months follow Pacific
      time, so the first UTC hours of a month can belong to the previous invoice).
    - sub_account is the project. tags are the project's labels overlaid with the row's
      own (GKE's goog- labels as they are, already prefixed by Google), empty values
      dropped; system labels stay in staging.
    - x_estimated: the row's invoice month was still open at the newest export seen (an
      invoice closes in the first days of the next month; five are allowed). Until then
      late rows and corrections can still change the month's days.
-#}

with

billing_export as (

    select * from {{ ref('stg_gcp__billing_export') }}

),

catalog_prices as (

    select * from {{ ref('stg_gcp__catalog_prices') }}

),

newest_export as (

    select max(exported_at) as exported_at from billing_export

),

priced as (

    select
        billing_export.*,
        catalog_price.list_unit_price as catalog_unit_price,
        catalog_price.currency as catalog_currency,
        (billing_export.usage_started_at at time zone 'UTC')::date as usage_day,
        case
            when billing_export.invoice_month is not null
                then
                    to_date(billing_export.invoice_month || '01', 'YYYYMMDD')::timestamp
                    at time zone 'UTC'
            else {{ utc_month_start('billing_export.usage_started_at') }}
        end as invoice_month_start
    from billing_export
    left join lateral (
        select
            catalog_prices.list_unit_price,
            catalog_prices.currency
        from catalog_prices
        where
            catalog_prices.sku_id = billing_export.sku_id
            and catalog_prices.usage_unit_description = billing_export.usage_pricing_unit
            and catalog_prices.list_unit_price is not null
        order by
            catalog_prices.snapshot_at
            < billing_export.usage_started_at + interval '1 day' desc,
            abs(extract(epoch from catalog_prices.snapshot_at - billing_export.usage_started_at))
            asc
        limit 1
    ) as catalog_price on true

),

lines as (

    select
        priced.*,
        case priced.cost_type
            when 'tax' then 'Tax'
            when 'adjustment' then 'Adjustment'
            when 'rounding_error' then 'Adjustment'
            else 'Usage'
        end as charge_category,
        case
            when priced.catalog_currency = priced.currency then priced.catalog_unit_price
            when priced.catalog_currency = 'USD'
                then priced.catalog_unit_price * priced.currency_conversion_rate
        end as catalog_price_billed
    from priced

),

final as (

    select
        ---------- ids
        {{ cost_id("'gcp'", "billing_row_id") }} as x_cost_id,
        'gcp' as x_source_system,
        billing_account_id,
        project_id as sub_account_id,
        null as invoice_id,
        sku_id,
        null as sku_price_id,
        resource_global_name as resource_id,
        null as commitment_discount_id,

        ---------- strings
        coalesce(billing_account_name, billing_account_id) as billing_account_name,
        'Billing Account' as billing_account_type,
        currency as billing_currency,
        project_name as sub_account_name,
        case when project_id is not null then 'Project' end as sub_account_type,
        'Google Cloud' as invoice_issuer_name,
        'Google Cloud' as provider_name,
        'Google Cloud' as publisher_name,
        charge_category,
        case
            when cost_type = 'adjustment' and adjustment_type like '%CORRECTION' then 'Correction'
        end as charge_class,
        coalesce(adjustment_description, sku_description, service_name) as charge_description,
        case when charge_category = 'Usage' then 'Usage-Based' end as charge_frequency,
        null as service_category,
        null as service_subcategory,
        service_name,
        null as pricing_category,
        case when charge_category != 'Tax' then usage_pricing_unit end as pricing_unit,
        case when charge_category != 'Tax' then usage_unit end as consumed_unit,
        sku_description as sku_meter,
        resource_name,
        null as resource_type,
        coalesce(location_region, location) as region_id,
        null as region_name,
        location_zone as availability_zone,
        null as commitment_discount_name,
        null as commitment_discount_type,
        null as commitment_discount_category,
        null as commitment_discount_status,
        null as x_department,
        null as x_team,
        null as x_user_email,
        null as x_project,
        null as x_customer,
        null as x_feature,
        null as x_cost_category,
        null as x_environment,

        ---------- numerics
        net_cost as billed_cost,
        net_cost as effective_cost,
        case
            when cost_at_list is not null then cost_at_list
            when
                catalog_price_billed is not null
                and coalesce(usage_amount_in_pricing_units, 0) != 0
                then catalog_price_billed * usage_amount_in_pricing_units
            else cost
        end as list_cost,
        cost as contracted_cost,
        case
            when cost_at_list is null and coalesce(usage_amount_in_pricing_units, 0) != 0
                then catalog_price_billed
            when coalesce(usage_amount_in_pricing_units, 0) != 0
                then cost_at_list / usage_amount_in_pricing_units
        end as list_unit_price,
        case
            when coalesce(usage_amount_in_pricing_units, 0) != 0
                then cost / usage_amount_in_pricing_units
        end as contracted_unit_price,
        case
            when charge_category != 'Tax' then usage_amount_in_pricing_units
        end as pricing_quantity,
        case when charge_category != 'Tax' then usage_amount end as consumed_quantity,

        ---------- jsonb
        coalesce(
            (
                select jsonb_object_agg(tag.key, tag.value)
                from jsonb_each_text(lines.labels) as tag (key, value)
                where tag.value != ''
            ),
            '{}'::jsonb
        ) as tags,

        ---------- booleans
        invoice_month_start + interval '1 month' + interval '5 days'
        > (select newest_export.exported_at from newest_export) as x_estimated,

        ---------- timestamps
        invoice_month_start as billing_period_start,
        invoice_month_start + interval '1 month' as billing_period_end,
        usage_day::timestamp at time zone 'UTC' as charge_period_start,
        (usage_day + 1)::timestamp at time zone 'UTC' as charge_period_end

    from lines

)

select * from final
