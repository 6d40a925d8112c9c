{#-
    Revenue earned per UTC day, customer and feature, in the billing currency and in US
    dollars: each subscription item's monthly recurring revenue that day (Stripe's
    business.mrr in fct_metrics) spread evenly over the year, MRR x 12 / 365 a day. A
    yearly plan invoiced in March thus earns the same every day of the year instead of
    all in March, which is what a margin per month needs. Dollars at the fx_rates.csv
    rate of the day; a currency without a rate has no dollar amount (and fails a test).
-#}

with

mrr as (

    select
        (observed_at at time zone 'UTC')::date as revenue_day,
        customer,
        feature,
        upper(unit) as currency,
        sum(value) as mrr
    from {{ ref('fct_metrics') }}
    where metric_type = 'business.mrr'
    group by 1, 2, 3, 4

),

fx_rates as (

    select * from {{ ref('int_fx_rates') }}

),

final as (

    select
        mrr.revenue_day,
        mrr.customer,
        mrr.feature,
        mrr.currency,
        round(mrr.mrr * 12 / 365, 6) as revenue,
        round(mrr.mrr * 12 / 365 * fx_rates.usd_per_unit, 6) as revenue_usd
    from mrr
    left join fx_rates
        on
            mrr.currency = fx_rates.currency
            and mrr.revenue_day >= fx_rates.effective_from
            and (fx_rates.effective_to is null or mrr.revenue_day < fx_rates.effective_to)

)

select * from final
