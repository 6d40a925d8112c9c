{{ config(tags=['metrics_source']) }}

{#-
    Stripe in the universal metric shape, in each currency's major unit (unit: the ISO
    code, upper case). Stripe states amounts in the smallest unit; the exponent comes
    from seeds/stripe_currency_exponents.csv (2 for a currency not listed), so JPY
    63640 is 63640 yen and KWD 45500 is 45.5 dinars.

    - Cash, per UTC day, settlement currency, Stripe customer and reporting category:
      business.revenue.cash (gross), business.revenue.cash_fee and
      business.revenue.cash_net from charges, payments, refunds and disputes;
      Stripe's own fees (category fee) add to cash_fee and cash_net; payouts are
      business.payouts (positive: money sent to the bank). Other categories
      (transfers, adjustments...) stay in staging.
    - Billed: business.revenue.billed per invoice line of every invoice that is not a
      draft or void, observed when the invoice was created, its line period in tags.
    - MRR: business.mrr per day and subscription item, the item's price times its
      quantity normalised to a month: yearly / 12, weekly * 52 / 12, daily
      * 365 / 12, each also divided by the interval count (quarterly = 3 months).
      An item counts on a day when its subscription had started by the day's end, had
      not ended by then, was out of any trial, and was not paused, unpaid or never
      paid for; metered and tiered prices have no fixed MRR and are left out.

    The customer is the house customer: seeds/stripe_customers.csv first, then the
    Stripe customer's metadata (the key the collector was configured with), else
    unallocated. A line or item's product maps through source_mappings (key_name
    product_id) to its feature (the mapped project), team and department.
-#}

with

stg_stripe__balance_transactions as (

    select * from {{ ref('stg_stripe__balance_transactions') }}

),

stg_stripe__invoice_lines as (

    select * from {{ ref('stg_stripe__invoice_lines') }}

),

stg_stripe__subscription_items as (

    select * from {{ ref('stg_stripe__subscription_items') }}

),

stg_stripe__customers as (

    select * from {{ ref('stg_stripe__customers') }}

),

stripe_customers as (

    select * from {{ ref('stripe_customers') }}

),

stripe_currency_exponents as (

    select * from {{ ref('stripe_currency_exponents') }}

),

source_mappings as (

    select * from {{ ref('source_mappings') }}

),

product_mappings as (

    select
        key_value as product_id,
        department,
        team,
        project,
        environment
    from source_mappings
    where source_system = 'stripe' and key_name = 'product_id'

),

-- The seed's row wins over the metadata; a customer in neither has no house customer.
house_customers as (

    select
        coalesce(seeded.stripe_customer_id, customers.stripe_customer_id)
            as stripe_customer_id,
        coalesce(
            nullif(trim(seeded.customer), ''), customers.house_customer
        ) as customer
    from stg_stripe__customers as customers
    full outer join stripe_customers as seeded
        on customers.stripe_customer_id = seeded.stripe_customer_id

),

-- Refunds and disputes take money back from a charge: theirs is the charge's customer.
charge_customers as (

    select
        source_id as charge_id,
        max(source_customer_id) as stripe_customer_id
    from stg_stripe__balance_transactions
    where source_object = 'charge' and source_customer_id is not null
    group by 1

),

cash_daily as (

    select
        date_trunc('day', balance_transactions.created_at, 'UTC') as observed_at,
        balance_transactions.currency,
        coalesce(
            balance_transactions.source_customer_id, charge_customers.stripe_customer_id
        ) as stripe_customer_id,
        balance_transactions.reporting_category,
        count(*) as transaction_count,
        sum(balance_transactions.amount_minor) as amount_minor,
        sum(balance_transactions.fee_minor) as fee_minor,
        sum(balance_transactions.net_minor) as net_minor
    from stg_stripe__balance_transactions as balance_transactions
    left join charge_customers
        on balance_transactions.source_charge_id = charge_customers.charge_id
    where balance_transactions.created_at is not null
    group by 1, 2, 3, 4

),

cash_observations as (

    select
        concat_ws(
            '|',
            'cash',
            to_char(cash_daily.observed_at at time zone 'UTC', 'YYYY-MM-DD'),
            cash_daily.currency,
            coalesce(cash_daily.stripe_customer_id, ''),
            cash_daily.reporting_category
        ) as natural_key,
        cash_daily.observed_at,
        amounts.metric_type,
        amounts.amount_minor,
        cash_daily.currency,
        cash_daily.stripe_customer_id,
        null::text as product_id,
        jsonb_strip_nulls(
            jsonb_build_object(
                'reporting_category', cash_daily.reporting_category,
                'stripe_customer_id', cash_daily.stripe_customer_id,
                'transactions', cash_daily.transaction_count
            )
        ) as tags
    from cash_daily
    cross join
        lateral (
            values
            (
                'business.revenue.cash',
                case
                    when cash_daily.reporting_category in (
                            'charge', 'refund', 'dispute', 'dispute_reversal',
                            'partial_capture_reversal', 'refund_failure'
                        )
                        then cash_daily.amount_minor
                end
            ),
            (
                'business.revenue.cash_fee',
                case
                    when cash_daily.reporting_category in (
                            'charge', 'refund', 'dispute', 'dispute_reversal',
                            'partial_capture_reversal', 'refund_failure'
                        )
                        then cash_daily.fee_minor
                    -- Stripe's own fees are debits: what they take is a fee.
                    when cash_daily.reporting_category = 'fee'
                        then cash_daily.fee_minor - cash_daily.amount_minor
                end
            ),
            (
                'business.revenue.cash_net',
                case
                    when cash_daily.reporting_category in (
                            'charge', 'refund', 'dispute', 'dispute_reversal',
                            'partial_capture_reversal', 'refund_failure', 'fee'
                        )
                        then cash_daily.net_minor
                end
            ),
            (
                'business.payouts',
                case
                    when cash_daily.reporting_category in ('payout', 'payout_reversal')
                        then -cash_daily.amount_minor
                end
            )
        ) as amounts (metric_type, amount_minor)
    where amounts.amount_minor is not null

),

billed_observations as (

    select
        'line|' || invoice_lines.invoice_line_id as natural_key,
        invoice_lines.invoice_created_at as observed_at,
        'business.revenue.billed' as metric_type,
        invoice_lines.amount_minor,
        invoice_lines.currency,
        invoice_lines.stripe_customer_id,
        invoice_lines.product_id,
        jsonb_strip_nulls(
            jsonb_build_object(
                'invoice_id', invoice_lines.invoice_id,
                'invoice_number', invoice_lines.invoice_number,
                'invoice_line_id', invoice_lines.invoice_line_id,
                'invoice_status', invoice_lines.invoice_status,
                'stripe_customer_id', invoice_lines.stripe_customer_id,
                'subscription_id', invoice_lines.subscription_id,
                'price_id', invoice_lines.price_id,
                'product_id', invoice_lines.product_id,
                'quantity', invoice_lines.quantity,
                'proration', invoice_lines.is_proration,
                'period_start', invoice_lines.period_started_at,
                'period_end', invoice_lines.period_ended_at
            )
        ) as tags
    from stg_stripe__invoice_lines as invoice_lines
    where
        invoice_lines.invoice_status in ('open', 'paid', 'uncollectible')
        and invoice_lines.amount_minor is not null
        and invoice_lines.invoice_created_at is not null

),

active_items as (

    select
        items.*,
        (items.snapshot_date::timestamp at time zone 'UTC') as day_started_at,
        (items.snapshot_date::timestamp at time zone 'UTC') + interval '1 day'
            as day_ended_at
    from stg_stripe__subscription_items as items
    where
        items.usage_type is distinct from 'metered'
        and items.unit_amount_minor is not null
        and items.recurring_interval_count > 0
        and items.subscription_status not in (
            'incomplete', 'incomplete_expired', 'paused', 'unpaid'
        )

),

mrr_observations as (

    select
        concat_ws(
            '|',
            'mrr',
            to_char(active_items.snapshot_date, 'YYYY-MM-DD'),
            active_items.subscription_item_id
        ) as natural_key,
        active_items.day_started_at as observed_at,
        'business.mrr' as metric_type,
        case active_items.recurring_interval
            when 'month'
                then active_items.unit_amount_minor * active_items.quantity
                    / active_items.recurring_interval_count
            when 'year'
                then active_items.unit_amount_minor * active_items.quantity
                    / (12 * active_items.recurring_interval_count)
            when 'week'
                then active_items.unit_amount_minor * active_items.quantity * 52
                    / (12 * active_items.recurring_interval_count)
            when 'day'
                then active_items.unit_amount_minor * active_items.quantity * 365
                    / (12 * active_items.recurring_interval_count)
        end as amount_minor,
        active_items.currency,
        active_items.stripe_customer_id,
        active_items.product_id,
        jsonb_strip_nulls(
            jsonb_build_object(
                'subscription_id', active_items.subscription_id,
                'subscription_item_id', active_items.subscription_item_id,
                'stripe_customer_id', active_items.stripe_customer_id,
                'price_id', active_items.price_id,
                'product_id', active_items.product_id,
                'interval', active_items.recurring_interval,
                'interval_count', active_items.recurring_interval_count,
                'quantity', active_items.quantity,
                'subscription_status', active_items.subscription_status
            )
        ) as tags
    from active_items
    where
        active_items.started_at < active_items.day_ended_at
        and (
            active_items.ended_at is null
            or active_items.ended_at >= active_items.day_ended_at
        )
        and (
            active_items.trial_ended_at is null
            or active_items.trial_ended_at < active_items.day_ended_at
        )
        and active_items.recurring_interval in ('day', 'week', 'month', 'year')

),

observations as (

    select * from cash_observations
    union all
    select * from billed_observations
    union all
    select * from mrr_observations

),

final as (

    select
        {{ metric_id(
            "'stripe'",
            'observations.natural_key',
            'observations.metric_type',
        ) }} as metric_id,
        observations.observed_at,
        'stripe' as source_system,
        observations.metric_type,
        trim_scale(
            observations.amount_minor::numeric
            / power(10::numeric, coalesce(exponents.exponent, 2))
        ) as value,
        observations.currency as unit,
        observations.tags,
        coalesce(products.department, 'unallocated') as department,
        coalesce(products.team, 'unallocated') as team,
        'unallocated' as user_email,
        coalesce(products.project, 'unallocated') as project,
        coalesce(house_customers.customer, 'unallocated') as customer,
        coalesce(products.project, 'unallocated') as feature,
        'unallocated' as cost_category,
        coalesce(nullif(products.environment, ''), 'unallocated') as environment,
        'Stripe' as service,
        'unallocated' as region
    from observations
    left join stripe_currency_exponents as exponents
        on observations.currency = exponents.currency
    left join house_customers
        on observations.stripe_customer_id = house_customers.stripe_customer_id
    left join product_mappings as products
        on observations.product_id = products.product_id

)

select * from final
