-- Each metric type is stated in one unit only: token types in tokens, ai.requests in
-- requests, the cost types in USD, Claude Code activity in its own count (sessions,
-- lines, commits, pull_requests, decisions), OpenAI images, speech characters and
-- transcribed seconds in those, the business money types in an ISO 4217 currency code
-- (upper case), GitHub activity in commits, pull_requests, hours, lines and releases,
-- Mixpanel's product.events in events, Kubernetes CPU in cores, memory in bytes and
-- GPUs in gpus. A failure lists a metric type seen with a unit it
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
        ('code.pull_requests', 'pull_requests'),
        -- Money of a business source is in its own currency: any ISO 4217 code.
        ('business.revenue.cash', 'ISO 4217'),
        ('business.revenue.cash_fee', 'ISO 4217'),
        ('business.revenue.cash_net', 'ISO 4217'),
        ('business.revenue.billed', 'ISO 4217'),
        ('business.mrr', 'ISO 4217'),
        ('business.payouts', 'ISO 4217'),
        ('product.events', 'events'),
        ('dev.commits', 'commits'),
        ('dev.pull_requests.opened', 'pull_requests'),
        ('dev.pull_requests.merged', 'pull_requests'),
        ('dev.pull_requests.time_to_merge_hours', 'hours'),
        ('dev.lines.added', 'lines'),
        ('dev.lines.deleted', 'lines'),
        ('dev.releases', 'releases'),
        ('infra.cpu.request_cores', 'cores'),
        ('infra.cpu.usage_cores', 'cores'),
        ('infra.memory.request_bytes', 'bytes'),
        ('infra.memory.usage_bytes', 'bytes'),
        ('infra.gpu.request_gpus', 'gpus')
    ) as units (metric_type, unit)

),

-- Prometheus, Datadog and the vault.yaml-only sources (http_api, sql, log_files: tag
-- collector) take metric types and units from vault.yaml: a type of theirs that the list
-- above does not hold must keep one unit across every row instead.
configured_types as (

    select fct_metrics.metric_type
    from fct_metrics
    left join expected_units
        on fct_metrics.metric_type = expected_units.metric_type
    where
        (
            fct_metrics.source_system in ('prometheus', 'datadog')
            or fct_metrics.tags ->> 'collector' in ('http_api', 'sql', 'log_files')
        )
        and expected_units.metric_type is null
    group by 1
    having count(distinct fct_metrics.unit) > 1

),

listed_mismatches as (

    select
        fct_metrics.metric_type,
        fct_metrics.unit,
        expected_units.unit as expected_unit,
        count(*) as row_count
    from fct_metrics
    left join expected_units
        on fct_metrics.metric_type = expected_units.metric_type
    where
        expected_units.unit is distinct from fct_metrics.unit
        and not (
            expected_units.unit = 'ISO 4217' and fct_metrics.unit ~ '^[A-Z]{3}$'
        )
        and not (
            expected_units.metric_type is null
            and (
                fct_metrics.source_system in ('prometheus', 'datadog')
                or fct_metrics.tags ->> 'collector' in ('http_api', 'sql', 'log_files')
            )
        )
    group by 1, 2, 3

),

configured_mismatches as (

    select
        fct_metrics.metric_type,
        fct_metrics.unit,
        'one unit per metric type' as expected_unit,
        count(*) as row_count
    from fct_metrics
    inner join configured_types
        on fct_metrics.metric_type = configured_types.metric_type
    group by 1, 2, 3

),

final as (

    select * from listed_mismatches
    union all
    select * from configured_mismatches

)

select * from final
