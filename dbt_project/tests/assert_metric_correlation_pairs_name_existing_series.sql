-- Every series a pair of metric_correlation_pairs.csv names has days in
-- daily_metric_series. A failure lists the pair and the series that has none: a typing
-- error in the seed, or a source that is not loaded (yet). A warning rather than an
-- error, since a warehouse that does not collect a source at all is allowed to.

{{ config(
    severity='warn',
    meta={'dagster': {'ref': {'name': 'metric_correlations'}}},
) }}

with

pairs as (

    select * from {{ ref('metric_correlation_pairs') }}

),

named_series as (

    select
        pair_name,
        series_x as series
    from pairs
    union all
    select
        pair_name,
        series_y as series
    from pairs

),

known_series as (

    select distinct series
    from {{ ref('daily_metric_series') }}

),

final as (

    select
        named_series.pair_name,
        named_series.series
    from named_series
    left join known_series
        on named_series.series = known_series.series
    where known_series.series is null

)

select * from final
