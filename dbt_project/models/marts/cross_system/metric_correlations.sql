{#-
    How closely two daily series move together: for every pair in
    seeds/metric_correlation_pairs.csv and every lag from 0 to 7 days, Pearson's
    coefficient of series_x on day d against series_y on day d + lag, over the days
    where both have a value.

    Missing days: a summed series (counts, money) is zero on a day without a row between
    its first and last day, since nothing was counted; before its first and after its
    last day it is unknown. A mean or a level (latency, MRR, cores in use) is unknown on
    a day without a row and that day is left out: an absent reading is not a zero.
-#}

with

pairs as (

    select * from {{ ref('metric_correlation_pairs') }}

),

daily_metric_series as (

    select * from {{ ref('daily_metric_series') }}

),

lags as (

    select lag_days
    from generate_series(0, 7) as lag_range (lag_days)

),

paired_series as (

    select series_x as series from pairs
    union
    select series_y as series from pairs

),

observed as (

    select
        daily_metric_series.series,
        daily_metric_series.day,
        daily_metric_series.value,
        daily_metric_series.aggregation
    from daily_metric_series
    inner join paired_series
        on daily_metric_series.series = paired_series.series

),

summed_spans as (

    select
        series,
        min(day) as first_day,
        max(day) as last_day
    from observed
    where aggregation = 'sum'
    group by series

),

summed_days_filled as (

    select
        summed_spans.series,
        calendar.day::date as day,
        coalesce(observed.value, 0) as value
    from summed_spans
    cross join
        lateral generate_series(
            summed_spans.first_day, summed_spans.last_day, interval '1 day'
        ) as calendar (day)
    left join observed
        on
            summed_spans.series = observed.series
            and calendar.day::date = observed.day

),

series_days as (

    select
        series,
        day,
        value
    from summed_days_filled
    union all
    select
        series,
        day,
        value
    from observed
    where aggregation != 'sum'

),

matched_days as (

    select
        pairs.pair_name,
        lags.lag_days,
        x_days.day,
        x_days.value::double precision as x_value,
        y_days.value::double precision as y_value
    from pairs
    cross join lags
    inner join series_days as x_days
        on pairs.series_x = x_days.series
    inner join series_days as y_days
        on
            pairs.series_y = y_days.series
            and x_days.day + lags.lag_days = y_days.day

),

coefficients as (

    select
        pair_name,
        lag_days,
        count(*) as days,
        trim_scale(round(corr(y_value, x_value)::numeric, 4)) as coefficient,
        min(day) as from_day,
        max(day) as to_day
    from matched_days
    group by pair_name, lag_days

),

final as (

    select
        pairs.pair_name,
        pairs.series_x,
        pairs.series_y,
        lags.lag_days,
        coalesce(coefficients.days, 0) as days,
        coefficients.coefficient,
        coefficients.from_day,
        coefficients.to_day,
        case
            when coefficients.days < 14 or coefficients.coefficient is null then null
            when abs(coefficients.coefficient) >= 0.7 then 'strong'
            when abs(coefficients.coefficient) >= 0.4 then 'moderate'
            else 'weak'
        end as strength
    from pairs
    cross join lags
    left join coefficients
        on
            pairs.pair_name = coefficients.pair_name
            and lags.lag_days = coefficients.lag_days

)

select * from final
