{{ config(tags=['costs_source']) }}

{#-
    AWS Cost Explorer groups as ledger lines, one per day and group. Cost Explorer states
    no list or negotiated unit prices, so list_cost and contracted_cost repeat the billed
    cost (what the usage was charged); effective_cost is the amortised cost after
    discounts where it was collected. A quantity is only meaningful per usage type:
    consumed_quantity is left null unless the group has a USAGE_TYPE key. Without a
    SERVICE key a line spans several services and says so in service_name.
-#}

with

cost_explorer as (

    select * from {{ ref('stg_aws__cost_explorer') }}

),

priced as (

    select
        *,
        case billed_cost_metric
            when 'NetUnblendedCost' then net_unblended_cost
            else unblended_cost
        end as billed_amount,
        case billed_cost_metric
            when 'NetUnblendedCost' then net_unblended_cost_unit
            else unblended_cost_unit
        end as billed_unit
    from cost_explorer

),

final as (

    select
        ---------- ids
        {{ cost_id("'aws'", "cost_line_id") }} as x_cost_id,
        'aws' as x_source_system,
        billing_account_id,
        linked_account_id as sub_account_id,
        null as invoice_id,
        null as sku_id,
        null as sku_price_id,
        null as resource_id,
        null as commitment_discount_id,

        ---------- strings
        billing_account_name,
        null as billing_account_type,
        billed_unit as billing_currency,
        coalesce(linked_account_name, linked_account_id) as sub_account_name,
        null as sub_account_type,
        'AWS' as invoice_issuer_name,
        'AWS' as provider_name,
        'AWS' as publisher_name,
        case
            when service_name = 'Tax' or record_type = 'Tax' then 'Tax'
            when record_type in ('Credit', 'Refund') then 'Credit'
            when billed_amount < 0 and record_type is not null and record_type != 'Usage'
                then 'Credit'
            when
                record_type in ('RIFee', 'SavingsPlanUpfrontFee', 'SavingsPlanRecurringFee')
                then 'Purchase'
            else 'Usage'
        end as charge_category,
        null as charge_class,
        nullif(concat_ws(
            ', ',
            service_name,
            usage_type,
            record_type,
            region_id,
            availability_zone,
            instance_type,
            operation,
            purchase_type
        ), '') as charge_description,
        case
            when record_type in ('RIFee', 'SavingsPlanRecurringFee') then 'Recurring'
            when record_type = 'SavingsPlanUpfrontFee' then 'One-Time'
            when record_type in ('Usage', 'DiscountedUsage', 'SavingsPlanCoveredUsage')
                then 'Usage-Based'
        end as charge_frequency,
        null as service_category,
        null as service_subcategory,
        case
            when is_grouped_by_service then coalesce(service_name, 'No service')
            else 'AWS (all services)'
        end as service_name,
        null as pricing_category,
        null as pricing_unit,
        case when is_grouped_by_usage_type then usage_quantity_unit end as consumed_unit,
        null as sku_meter,
        null as resource_name,
        null as resource_type,
        region_id,
        region_id as region_name,
        availability_zone,
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
        billed_amount as billed_cost,
        coalesce(net_amortized_cost, amortized_cost, billed_amount) as effective_cost,
        billed_amount as list_cost,
        billed_amount as contracted_cost,
        null as list_unit_price,
        null as contracted_unit_price,
        null as pricing_quantity,
        case when is_grouped_by_usage_type then usage_quantity end as consumed_quantity,

        ---------- jsonb
        -- User tags from the TAG group keys; a cost category is the customer's own
        -- grouping, kept under an x_ key.
        case
            when cost_category_name is null or cost_category_value is null then tags
            else
                tags
                || jsonb_build_object(
                    'x_aws_cost_category:' || cost_category_name, cost_category_value
                )
        end as tags,

        ---------- booleans
        coalesce(is_estimated, false) as x_estimated,

        ---------- timestamps
        {{ utc_month_start('usage_started_at') }} as billing_period_start,
        {{ utc_month_start('usage_started_at') }} + interval '1 month' as billing_period_end,
        usage_started_at as charge_period_start,
        coalesce(usage_ended_at, usage_started_at + interval '1 day') as charge_period_end

    from priced

)

select * from final
