{{ config(tags=['costs_source']) }}

{#-
    Azure Cost Management rows as ledger lines: one per scope, UTC day and group
    (resource group, service, tag value... as configured), the ActualCost and AmortizedCost
    rows of the same group side by side.

    - billed_cost is ActualCost's cost. effective_cost is AmortizedCost's where the
      amortized query was collected for that scope and day (0 for a purchase, whose cost
      the amortized view spreads over the usage it covers), else billed_cost.
    - list_cost and contracted_cost fall back to billed_cost: the Query API aggregates
      cost only, not list or negotiated prices (the cost export has them).
    - billing_account_id is the billing account of a billing-account scope, else the
      subscription (a subscription or resource group scope does not say which account
      bills it); sub_account_id is always the subscription. The names repeat the ids
      (billing_account_name) or stay null (sub_account_name): the Query API gives none.
    - tags hold the grouped tag as {key: value} (no entry when untagged) and the resource
      group under x_ResourceGroupName, the name Azure's FOCUS export uses.
    - Without ChargeType in the grouping every row counts as Usage; with it, Purchase
      stays Purchase and Refund becomes Credit.
    - x_estimated: Azure restates a day's cost for about three days after it ends.
-#}

with

cost_rows as (

    select * from {{ ref('stg_azure__cost_rows') }}
    where query_type in ('ActualCost', 'AmortizedCost')

),

lines as (

    select
        scope,
        scope_type,
        usage_date,
        subscription_id,
        billing_account_id,
        resource_group_name,
        service_name,
        resource_location,
        charge_type,
        tag_key,
        tag_value,
        currency,
        concat_ws(
            '|',
            scope,
            usage_date,
            coalesce(subscription_id, ''),
            coalesce(resource_group_name, ''),
            coalesce(service_name, ''),
            coalesce(resource_location, ''),
            coalesce(charge_type, ''),
            coalesce(tag_key, ''),
            coalesce(tag_value, ''),
            coalesce(currency, '')
        ) as line_key,
        coalesce(sum(cost) filter (where query_type = 'ActualCost'), 0) as actual_cost,
        sum(cost) filter (where query_type = 'AmortizedCost') as amortized_cost,
        max(loaded_at) as loaded_at
    from cost_rows
    group by
        scope,
        scope_type,
        usage_date,
        subscription_id,
        billing_account_id,
        resource_group_name,
        service_name,
        resource_location,
        charge_type,
        tag_key,
        tag_value,
        currency

),

amortized_days as (

    select distinct
        scope,
        usage_date
    from cost_rows
    where query_type = 'AmortizedCost'

),

final as (

    select
        ---------- ids
        {{ cost_id("'azure'", "lines.line_key") }} as x_cost_id,
        'azure' as x_source_system,
        coalesce(lines.billing_account_id, lines.subscription_id) as billing_account_id,
        lines.subscription_id as sub_account_id,
        null as invoice_id,
        null as sku_id,
        null as sku_price_id,
        null as resource_id,
        null as commitment_discount_id,

        ---------- strings
        coalesce(lines.billing_account_id, lines.subscription_id) as billing_account_name,
        case
            when lines.billing_account_id is not null then 'Billing Account'
            when lines.subscription_id is not null then 'Subscription'
        end as billing_account_type,
        lines.currency as billing_currency,
        null as sub_account_name,
        case when lines.subscription_id is not null then 'Subscription' end as sub_account_type,
        'Microsoft' as invoice_issuer_name,
        'Microsoft' as provider_name,
        'Microsoft' as publisher_name,
        case lines.charge_type
            when 'Purchase' then 'Purchase'
            when 'Refund' then 'Credit'
            else 'Usage'
        end as charge_category,
        null as charge_class,
        concat_ws(
            ' in ', coalesce(lines.service_name, 'Azure'), lines.resource_group_name
        ) as charge_description,
        case
            when lines.charge_type in ('Purchase', 'Refund') then 'One-Time'
            else 'Usage-Based'
        end as charge_frequency,
        null as service_category,
        null as service_subcategory,
        lines.service_name,
        null as pricing_category,
        null as pricing_unit,
        null as consumed_unit,
        null as sku_meter,
        null as resource_name,
        null as resource_type,
        lower(replace(lines.resource_location, ' ', '')) as region_id,
        lines.resource_location as region_name,
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
        lines.actual_cost as billed_cost,
        case
            when amortized_days.scope is not null then coalesce(lines.amortized_cost, 0)
            else lines.actual_cost
        end as effective_cost,
        lines.actual_cost as list_cost,
        lines.actual_cost as contracted_cost,
        null as list_unit_price,
        null as contracted_unit_price,
        null as pricing_quantity,
        null as consumed_quantity,

        ---------- jsonb
        case
            when lines.tag_key is not null and lines.tag_value is not null
                then jsonb_build_object(lines.tag_key, lines.tag_value)
            else '{}'::jsonb
        end
        || jsonb_strip_nulls(
            jsonb_build_object('x_ResourceGroupName', lines.resource_group_name)
        ) as tags,

        ---------- booleans
        lines.loaded_at < (lines.usage_date + 4)::timestamp at time zone 'UTC' as x_estimated,

        ---------- timestamps
        {{ utc_month_start("(lines.usage_date::timestamp at time zone 'UTC')") }}
            as billing_period_start,
        {{ utc_month_start("(lines.usage_date::timestamp at time zone 'UTC')") }}
        + interval '1 month' as billing_period_end,
        lines.usage_date::timestamp at time zone 'UTC' as charge_period_start,
        (lines.usage_date + 1)::timestamp at time zone 'UTC' as charge_period_end

    from lines
    left join amortized_days
        on
            lines.scope = amortized_days.scope
            and lines.usage_date = amortized_days.usage_date

)

select * from final
