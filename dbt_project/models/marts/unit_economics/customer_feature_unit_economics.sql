{#-
    What each customer's use of each feature earned and cost, per UTC month: one row for
    every (customer, feature, month) with requests or revenue.

    - Requests, failures and latency come from the product's own request tracking
      (stg_product__usage_events), one row per request. p95 latency is the 95th
      percentile of the month's successful requests (percentile_cont, interpolated
      between the two nearest requests), as in fct_metrics' ai.latency_ms: a failure's
      time says nothing about how fast answers come.
    - AI cost is the feature's production AI cost of the month split over its customers
      in proportion to the cost the service reported for their requests; in a month when
      the feature reported no cost at all, in proportion to their requests.
    - Infrastructure cost is the feature's production cloud and infrastructure cost of
      the month split over its customers by requests: the cloud lines that name the
      feature, plus the Kubernetes allocations of the workloads of the feature's project.
    - Production cost is what cost_attribution gives the feature while its project is in
      the production phase, from lines no source marks as another environment
      (development): the AI vendors' bills name no environment, a development account's
      lines do. A feature's R&D and development cost is not a cost of serving customers.
    - Kubernetes allocations re-divide node costs that a cloud bill already holds
      (counts_in_totals false). They are added because the company's clusters run on
      shared accounts whose cloud lines name no feature, so the allocations are the only
      place a feature's share of a cluster shows. TODO: a cluster whose nodes were billed
      to a feature's own cloud account would be counted twice here (its node lines and
      its allocations), and nothing in the ledger says which account pays for a
      cluster's nodes; remove this note once it does and such clusters' allocations are
      left out.
    - A split is rounded to the cent so that the customers' shares of a feature-month
      add up exactly to the feature's rounded total (macros/split_to_the_cent.sql). A
      feature-month with cost but no tracked request has nobody to split it over; its
      cost is kept on customer 'unallocated' rather than dropped.
    - Revenue is recognised from Stripe's daily MRR (business.mrr in fct_metrics): a day
      earns its MRR x 12 / 365, and the month is the sum of its days, so a yearly plan
      earns evenly over the year rather than on its invoice date. Each day is converted
      to dollars at the fx_rates.csv rate in effect on that day; a currency without a
      rate leaves the revenue null (and fails the not_null test). The feature is the
      one features.csv gives the Stripe product, else the one fct_metrics gives.
-#}

with

stg_product__usage_events as (

    select * from {{ ref('stg_product__usage_events') }}

),

cost_attribution as (

    select * from {{ ref('cost_attribution') }}

),

fct_metrics as (

    select * from {{ ref('fct_metrics') }}

),

customers as (

    select * from {{ ref('customers') }}

),

features as (

    select * from {{ ref('features') }}

),

int_fx_rates as (

    select * from {{ ref('int_fx_rates') }}

),

tracked_requests as (

    select
        coalesce(customer_id, 'unallocated') as customer,
        coalesce(feature, 'unallocated') as feature,
        date_trunc('month', occurred_at at time zone 'UTC')::date as month,
        is_success,
        case when is_success then latency_ms end as success_latency_ms,
        reported_cost_usd
    from stg_product__usage_events

),

customer_requests as (

    select
        customer,
        feature,
        month,
        count(*) as requests,
        count(*) filter (where is_success = false) as failed_requests,
        percentile_cont(0.95) within group (order by success_latency_ms)
            as p95_latency_ms,
        sum(reported_cost_usd) as reported_cost_usd
    from tracked_requests
    group by customer, feature, month

),

feature_request_totals as (

    select
        feature,
        month,
        sum(reported_cost_usd) as reported_cost_usd
    from customer_requests
    group by feature, month

),

-- The feature's cost of serving its customers: AI and cloud lines that count in money
-- totals, and the Kubernetes allocations of its workloads.
production_costs as (

    select
        feature,
        charge_month,
        cost_kind,
        billed_cost_usd
    from cost_attribution
    where
        feature != 'unallocated'
        and project_phase = 'production'
        and environment in ('production', 'unallocated')
        and (
            (cost_kind in ('ai', 'cloud') and counts_in_totals)
            or cost_kind = 'infrastructure'
        )

),

feature_costs as (

    select
        feature,
        charge_month as month,
        coalesce(sum(billed_cost_usd) filter (where cost_kind = 'ai'), 0) as ai_cost_usd,
        coalesce(sum(billed_cost_usd) filter (where cost_kind != 'ai'), 0)
            as infrastructure_cost_usd
    from production_costs
    group by feature, charge_month

),

-- Who carries a feature-month's cost, and with what weight: the customers with
-- requests, or customer 'unallocated' when the feature had no tracked request.
cost_carriers as (

    select
        customer_requests.customer,
        customer_requests.feature,
        customer_requests.month,
        case
            when feature_request_totals.reported_cost_usd > 0
                then coalesce(customer_requests.reported_cost_usd, 0)
            else customer_requests.requests
        end as ai_weight,
        customer_requests.requests as infrastructure_weight
    from customer_requests
    inner join feature_request_totals
        on
            customer_requests.feature = feature_request_totals.feature
            and customer_requests.month = feature_request_totals.month
    union all
    select
        'unallocated' as customer,
        feature_costs.feature,
        feature_costs.month,
        1 as ai_weight,
        1 as infrastructure_weight
    from feature_costs
    left join feature_request_totals
        on
            feature_costs.feature = feature_request_totals.feature
            and feature_costs.month = feature_request_totals.month
    where feature_request_totals.feature is null

),

running_weights as (

    select
        customer,
        feature,
        month,
        ai_weight,
        infrastructure_weight,
        sum(ai_weight) over feature_month as ai_weight_through,
        sum(ai_weight) over (partition by feature, month) as ai_weight_total,
        sum(infrastructure_weight) over feature_month as infrastructure_weight_through,
        sum(infrastructure_weight) over (partition by feature, month)
            as infrastructure_weight_total
    from cost_carriers
    window feature_month as (partition by feature, month order by customer)

),

customer_costs as (

    select
        running_weights.customer,
        running_weights.feature,
        running_weights.month,
        {{ split_to_the_cent(
            'feature_costs.ai_cost_usd',
            'running_weights.ai_weight',
            'running_weights.ai_weight_through',
            'running_weights.ai_weight_total',
        ) }} as ai_cost_usd,
        {{ split_to_the_cent(
            'feature_costs.infrastructure_cost_usd',
            'running_weights.infrastructure_weight',
            'running_weights.infrastructure_weight_through',
            'running_weights.infrastructure_weight_total',
        ) }} as infrastructure_cost_usd
    from running_weights
    inner join feature_costs
        on
            running_weights.feature = feature_costs.feature
            and running_weights.month = feature_costs.month

),

daily_revenue as (

    select
        fct_metrics.customer,
        coalesce(features.feature, fct_metrics.feature) as feature,
        date_trunc('month', fct_metrics.observed_at at time zone 'UTC')::date as month,
        fct_metrics.value * 12 / 365 * fx_rates.usd_per_unit as revenue_usd
    from fct_metrics
    left join features
        on fct_metrics.tags ->> 'product_id' = features.stripe_product_id
    left join int_fx_rates as fx_rates
        on
            upper(fct_metrics.unit) = fx_rates.currency
            and (fct_metrics.observed_at at time zone 'UTC')::date >= fx_rates.effective_from
            and (
                fx_rates.effective_to is null
                or (fct_metrics.observed_at at time zone 'UTC')::date < fx_rates.effective_to
            )
    where fct_metrics.source_system = 'stripe' and fct_metrics.metric_type = 'business.mrr'

),

customer_revenue as (

    select
        customer,
        feature,
        month,
        -- Null when a day's currency has no rate: a partial sum would look complete.
        case when bool_and(revenue_usd is not null) then round(sum(revenue_usd), 2) end
            as revenue_usd
    from daily_revenue
    group by customer, feature, month

),

customer_feature_months as (

    select
        customer,
        feature,
        month
    from customer_requests
    union
    select
        customer,
        feature,
        month
    from customer_costs
    union
    select
        customer,
        feature,
        month
    from customer_revenue

),

unit_economics as (

    select
        customer_feature_months.customer,
        customer_feature_months.feature,
        customer_feature_months.month,
        coalesce(customer_requests.requests, 0) as requests,
        coalesce(customer_requests.failed_requests, 0) as failed_requests,
        customer_requests.p95_latency_ms,
        -- 0.00 rather than 0: every amount in cents, the same scale on every row.
        coalesce(customer_costs.ai_cost_usd, 0.00) as ai_cost_usd,
        coalesce(customer_costs.infrastructure_cost_usd, 0.00) as infrastructure_cost_usd,
        case
            when customer_revenue.month is null then 0.00 else customer_revenue.revenue_usd
        end as revenue_usd
    from customer_feature_months
    left join customer_requests
        on
            customer_feature_months.customer = customer_requests.customer
            and customer_feature_months.feature = customer_requests.feature
            and customer_feature_months.month = customer_requests.month
    left join customer_costs
        on
            customer_feature_months.customer = customer_costs.customer
            and customer_feature_months.feature = customer_costs.feature
            and customer_feature_months.month = customer_costs.month
    left join customer_revenue
        on
            customer_feature_months.customer = customer_revenue.customer
            and customer_feature_months.feature = customer_revenue.feature
            and customer_feature_months.month = customer_revenue.month

),

final as (

    select
        unit_economics.customer,
        coalesce(customers.name, unit_economics.customer) as customer_name,
        unit_economics.feature,
        unit_economics.month,
        unit_economics.requests,
        unit_economics.failed_requests,
        round(
            (unit_economics.requests - unit_economics.failed_requests)::numeric
            / nullif(unit_economics.requests, 0),
            4
        ) as success_rate,
        round(unit_economics.p95_latency_ms::numeric, 3) as p95_latency_ms,
        unit_economics.ai_cost_usd,
        unit_economics.infrastructure_cost_usd,
        unit_economics.revenue_usd,
        unit_economics.revenue_usd
        - unit_economics.ai_cost_usd
        - unit_economics.infrastructure_cost_usd as margin_usd,
        round(
            (unit_economics.ai_cost_usd + unit_economics.infrastructure_cost_usd)
            / nullif(unit_economics.requests, 0),
            6
        ) as cost_per_request_usd
    from unit_economics
    left join customers
        on unit_economics.customer = customers.customer

)

select * from final
