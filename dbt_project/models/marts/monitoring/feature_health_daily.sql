{#-
    How each customer-facing AI feature served each customer per UTC day, judged against
    seeds/feature_slos.csv; one row per (feature, customer, request_date), plus one row
    per (feature, request_date) with customer 'all' for the feature as a whole. Requests
    without a customer or feature count under 'unallocated'.

    - Latency percentiles (percentile_cont, interpolated) are over successful requests,
      as in customer_feature_unit_economics: a failure's time says nothing about how
      fast answers come.
    - SLA compliance is the share of all requests that succeeded within the SLO's
      sla_latency_ms (at most that many milliseconds); null without an SLA latency.
    - The SLO of a row is the one naming its customer, else the feature's row with an
      empty customer (which also judges the 'all' rows). A breach flag is null when the
      day had fewer than min_requests requests, when no SLO applies, or when the SLO
      leaves that target empty; true or false otherwise.
-#}

with

stg_product__usage_events as (

    select * from {{ ref('stg_product__usage_events') }}

),

feature_slos as (

    select * from {{ ref('feature_slos') }}

),

requests as (

    select
        coalesce(feature, 'unallocated') as feature,
        coalesce(customer_id, 'unallocated') as customer,
        (occurred_at at time zone 'UTC')::date as request_date,
        coalesce(is_success, false) as is_success,
        error_type,
        case when is_success then latency_ms end as success_latency_ms
    from stg_product__usage_events

),

-- The SLO each request's customer is judged by; 'all' rows take the feature-wide one.
requests_with_slo as (

    select
        requests.*,
        case
            when customer_slos.feature is not null then customer_slos.sla_latency_ms
            else feature_slos.sla_latency_ms
        end as customer_sla_latency_ms,
        feature_slos.sla_latency_ms as feature_sla_latency_ms
    from requests
    left join feature_slos as customer_slos
        on
            requests.feature = customer_slos.feature
            and requests.customer = customer_slos.customer
    left join feature_slos
        on
            requests.feature = feature_slos.feature
            and feature_slos.customer is null

),

daily as (

    select
        feature,
        coalesce(customer, 'all') as customer,
        request_date,
        count(*) as requests,
        count(*) filter (where not is_success) as failed_requests,
        percentile_cont(0.5) within group (order by success_latency_ms)
            as p50_latency_ms,
        percentile_cont(0.95) within group (order by success_latency_ms)
            as p95_latency_ms,
        case
            when grouping(customer) = 0
                then count(*) filter (
                        where success_latency_ms <= customer_sla_latency_ms
                    )
            else
                count(*) filter (where success_latency_ms <= feature_sla_latency_ms)
        end as requests_within_sla
    from requests_with_slo
    group by grouping sets ((feature, customer, request_date), (feature, request_date))

),

error_type_counts as (

    select
        feature,
        coalesce(customer, 'all') as customer,
        request_date,
        error_type,
        count(*) as failures
    from requests
    where not is_success and error_type is not null
    group by
        grouping sets (
            (feature, customer, request_date, error_type),
            (feature, request_date, error_type)
        )

),

error_types as (

    select distinct on (feature, customer, request_date)
        feature,
        customer,
        request_date,
        error_type
    from error_type_counts
    order by feature asc, customer asc, request_date asc, failures desc, error_type asc

),

judged as (

    select
        daily.feature,
        daily.customer,
        daily.request_date,
        daily.requests,
        daily.failed_requests,
        daily.failed_requests::numeric / daily.requests as error_rate,
        error_types.error_type as most_common_error_type,
        daily.p50_latency_ms,
        daily.p95_latency_ms,
        daily.requests_within_sla::numeric / daily.requests as sla_compliance,
        case
            when customer_slos.feature is not null then customer_slos.max_error_rate
            else feature_wide_slos.max_error_rate
        end as max_error_rate,
        case
            when customer_slos.feature is not null then customer_slos.p95_latency_ms
            else feature_wide_slos.p95_latency_ms
        end as p95_latency_target_ms,
        case
            when customer_slos.feature is not null then customer_slos.sla_latency_ms
            else feature_wide_slos.sla_latency_ms
        end as sla_latency_ms,
        case
            when customer_slos.feature is not null then customer_slos.sla_target
            else feature_wide_slos.sla_target
        end as sla_target,
        coalesce(customer_slos.min_requests, feature_wide_slos.min_requests)
            as min_requests,
        coalesce(customer_slos.feature, feature_wide_slos.feature) is not null
        and daily.requests
        >= coalesce(customer_slos.min_requests, feature_wide_slos.min_requests)
            as is_judged
    from daily
    left join feature_slos as customer_slos
        on
            daily.feature = customer_slos.feature
            and daily.customer = customer_slos.customer
    left join feature_slos as feature_wide_slos
        on
            daily.feature = feature_wide_slos.feature
            and feature_wide_slos.customer is null
    left join error_types
        on
            daily.feature = error_types.feature
            and daily.customer = error_types.customer
            and daily.request_date = error_types.request_date

),

final as (

    select
        feature,
        customer,
        request_date,
        requests,
        failed_requests,
        round(error_rate, 4) as error_rate,
        most_common_error_type,
        round(p50_latency_ms::numeric, 1) as p50_latency_ms,
        round(p95_latency_ms::numeric, 1) as p95_latency_ms,
        case
            when sla_latency_ms is not null then round(sla_compliance, 4)
        end as sla_compliance,
        max_error_rate,
        p95_latency_target_ms,
        sla_latency_ms,
        sla_target,
        min_requests,
        coalesce(is_judged, false) as is_judged,
        case
            when is_judged and max_error_rate is not null
                then error_rate > max_error_rate
        end as is_error_rate_breached,
        case
            when is_judged and p95_latency_target_ms is not null
                then coalesce(p95_latency_ms > p95_latency_target_ms, false)
        end as is_latency_breached,
        case
            when is_judged and sla_target is not null then sla_compliance < sla_target
        end as is_sla_breached
    from judged

)

select * from final
