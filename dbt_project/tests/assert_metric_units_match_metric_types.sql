-- Each metric type is stated in one unit only: token types in tokens, ai.requests in
-- requests, the cost types in USD, Claude Code activity in its own count (sessions,
-- lines, commits, pull_requests, decisions), OpenAI images, speech characters and
-- transcribed seconds in those. A failure lists a metric type seen with a unit it
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
        ('ai.cost_estimated', 'USD'),
        ('ai.requests_failed', 'requests'),
        ('ai.latency_ms', 'ms'),
        ('ai.tokens.input_audio', 'tokens'),
        ('ai.tokens.output_audio', 'tokens'),
        ('ai.images', 'images'),
        ('ai.audio_characters', 'characters'),
        ('ai.audio_seconds', 'seconds'),
        ('ai.sessions', 'sessions'),
        ('ai.tool_decisions', 'decisions'),
        ('code.lines_added', 'lines'),
        ('code.lines_removed', 'lines'),
        ('code.commits', 'commits'),
        ('code.pull_requests', 'pull_requests')
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
