-- Each metric type is stated in one unit only: token types in tokens, ai.requests in
-- requests, the cost types in USD. A failure lists a metric type seen with a unit it
-- should not have, which would make sums over that metric type meaningless.

with

fct_metrics as (

    select * from {{ ref('fct_metrics') }}

),

expected_units as (

    select *
    from (
        values
        ('ai.tokens.input_uncached', 'tokens'),
        ('ai.tokens.cache_read', 'tokens'),
        ('ai.tokens.cache_write_5m', 'tokens'),
        ('ai.tokens.cache_write_1h', 'tokens'),
        ('ai.tokens.output', 'tokens'),
        ('ai.requests', 'requests'),
        ('ai.cost', 'USD'),
        ('ai.cost_estimated', 'USD')
    ) as units (metric_type, unit)

),

final as (

    select
        fct_metrics.metric_type,
        fct_metrics.unit,
        expected_units.unit as expected_unit,
        count(*) as row_count
    from fct_metrics
    left join expected_units
        on fct_metrics.metric_type = expected_units.metric_type
    where expected_units.unit is distinct from fct_metrics.unit
    group by 1, 2, 3

)

select * from final
