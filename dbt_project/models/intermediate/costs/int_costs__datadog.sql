{{ config(tags=['costs_source']) }}

{#-
    Datadog's estimated cost as ledger lines: one per date, organisation, product and
    charge type (committed or on_demand; a product's total only where Datadog states no
    parts, so nothing is counted twice). Datadog states month-to-date figures, so a
    line's cost is its date's figure less the previous date's of the same month, and its
    charge period runs from the day after that previous date (the month's first day when
    there is none) to the end of its date: a missing day widens the next line's period
    instead of losing its cost. Every line is an estimate (x_estimated), restated as
    Datadog revises it; lines that add nothing are left out.
-#}

with

stg_datadog__estimated_costs as (

    select * from {{ ref('stg_datadog__estimated_costs') }}
    where cost_date is not null and month_to_date_cost_usd is not null

),

-- Whether Datadog split each product's cost into charge types on each date.
parts as (

    select
        *,
        bool_or(charge_type <> 'total') over (
            partition by org_public_id, product_name, cost_date
        ) as has_parts
    from stg_datadog__estimated_costs

),

chosen as (

    select * from parts
    where charge_type <> 'total' or not has_parts

),

daily as (

    select
        *,
        lag(cost_date) over month_so_far as previous_date,
        month_to_date_cost_usd
        - coalesce(lag(month_to_date_cost_usd) over month_so_far, 0) as cost_usd
    from chosen
    window month_so_far as (
        partition by
            org_public_id, product_name, charge_type, date_trunc('month', cost_date)
        order by cost_date
    )

),

final as (

    select
        ---------- ids
        {{ cost_id("'datadog'", "estimated_cost_id") }} as x_cost_id,
        'datadog' as x_source_system,
        account_public_id as billing_account_id,
        org_public_id as sub_account_id,
        null as invoice_id,
        product_name as sku_id,
        null as sku_price_id,
        null as resource_id,
        null as commitment_discount_id,

        ---------- strings
        account_name as billing_account_name,
        null as billing_account_type,
        'USD' as billing_currency,
        org_name as sub_account_name,
        'Organization' as sub_account_type,
        'Datadog' as invoice_issuer_name,
        'Datadog' as provider_name,
        'Datadog' as publisher_name,
        'Usage' as charge_category,
        null as charge_class,
        'Datadog ' || replace(product_name, '_', ' ') || ' (' || charge_type || ')'
            as charge_description,
        'Usage-Based' as charge_frequency,
        'Management and Governance' as service_category,
        'Observability' as service_subcategory,
        'Datadog' as service_name,
        case charge_type
            when 'committed' then 'Committed'
            when 'on_demand' then 'Standard'
        end as pricing_category,
        null as pricing_unit,
        null as consumed_unit,
        product_name as sku_meter,
        null as resource_name,
        null as resource_type,
        datadog_region as region_id,
        datadog_region as region_name,
        null as availability_zone,
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
        cost_usd as billed_cost,
        cost_usd as effective_cost,
        cost_usd as list_cost,
        cost_usd as contracted_cost,
        null::numeric as list_unit_price,
        null::numeric as contracted_unit_price,
        null::numeric as pricing_quantity,
        null::numeric as consumed_quantity,

        ---------- jsonb
        jsonb_build_object('x_charge_type', charge_type) as tags,

        ---------- booleans
        true as x_estimated,

        ---------- timestamps
        (date_trunc('month', cost_date)::timestamp at time zone 'UTC')
            as billing_period_start,
        ((date_trunc('month', cost_date) + interval '1 month')::timestamp at time zone 'UTC')
            as billing_period_end,
        (
            coalesce(previous_date + 1, date_trunc('month', cost_date)::date)::timestamp
            at time zone 'UTC'
        ) as charge_period_start,
        ((cost_date + 1)::timestamp at time zone 'UTC') as charge_period_end

    from daily
    where cost_usd <> 0

)

select * from final
