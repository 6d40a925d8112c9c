{{ config(tags=['metrics_source']) }}

{#-
    One row per metric type and (UTC day, customer, feature, model, provider, taxonomy),
    not one per request: a busy service makes millions of requests a day, and seven rows
    for each would make fct_metrics mostly product events. Every event stays in
    stg_product__usage_events for drill-down. Latency is the day's mean over successful
    requests, with the percentiles and the sample size in the tags (percentiles of days
    cannot be combined; the mean can, weighted by tags.requests).
-#}

with

stg_product__usage_events as (

    select * from {{ ref('stg_product__usage_events') }}

),

-- An explicit tag on the event gives a taxonomy column; without one it is unallocated.
events as (

    select
        date_trunc('day', usage_events.occurred_at, 'UTC') as usage_day,
        coalesce(usage_events.customer_id, 'unallocated') as customer,
        coalesce(usage_events.feature, 'unallocated') as feature,
        usage_events.model,
        usage_events.provider,
        coalesce(nullif(trim(usage_events.tags ->> 'department'), ''), 'unallocated')
            as department,
        coalesce(nullif(trim(usage_events.tags ->> 'team'), ''), 'unallocated') as team,
        coalesce(nullif(trim(usage_events.tags ->> 'project'), ''), 'unallocated') as project,
        coalesce(nullif(trim(usage_events.tags ->> 'cost_category'), ''), 'unallocated')
            as cost_category,
        coalesce(nullif(trim(usage_events.tags ->> 'environment'), ''), 'unallocated')
            as environment,
        coalesce(nullif(trim(usage_events.tags ->> 'region'), ''), 'unallocated') as region,
        case usage_events.provider
            when 'anthropic' then 'Anthropic API'
            when 'openai' then 'OpenAI API'
            else coalesce(usage_events.provider, 'unallocated')
        end as service,
        usage_events.input_uncached_tokens,
        usage_events.cache_read_tokens,
        usage_events.cache_write_tokens,
        usage_events.output_tokens,
        usage_events.reported_cost_usd,
        -- Latency is measured over successful requests: a failure's time (a 30 s
        -- timeout, a 50 ms rate limit) says nothing about how fast answers come.
        case when usage_events.is_success then usage_events.latency_ms end
            as success_latency_ms,
        usage_events.is_success
    from stg_product__usage_events as usage_events

),

daily_usage as (

    select
        usage_day,
        customer,
        feature,
        model,
        provider,
        department,
        team,
        project,
        cost_category,
        environment,
        region,
        service,
        count(*) as request_count,
        count(*) filter (where is_success = false) as failed_request_count,
        sum(input_uncached_tokens) as input_uncached_tokens,
        sum(cache_read_tokens) as cache_read_tokens,
        sum(cache_write_tokens) as cache_write_tokens,
        sum(output_tokens) as output_tokens,
        sum(reported_cost_usd) as reported_cost_usd,
        count(reported_cost_usd) as cost_reported_count,
        count(success_latency_ms) as latency_count,
        avg(success_latency_ms) as mean_latency_ms,
        percentile_cont(0.5) within group (order by success_latency_ms) as p50_latency_ms,
        percentile_cont(0.95) within group (order by success_latency_ms) as p95_latency_ms,
        percentile_cont(0.99) within group (order by success_latency_ms) as p99_latency_ms,
        max(success_latency_ms) as max_latency_ms
    from events
    group by 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12

),

observations as (

    select
        concat_ws(
            '|',
            to_char(daily_usage.usage_day at time zone 'UTC', 'YYYY-MM-DD'),
            daily_usage.customer,
            daily_usage.feature,
            coalesce(daily_usage.model, ''),
            coalesce(daily_usage.provider, ''),
            daily_usage.department,
            daily_usage.team,
            daily_usage.project,
            daily_usage.cost_category,
            daily_usage.environment,
            daily_usage.region
        ) as natural_key,
        daily_usage.usage_day as observed_at,
        metrics.metric_type,
        metrics.value,
        metrics.unit,
        jsonb_strip_nulls(
            jsonb_build_object(
                'model', daily_usage.model,
                'provider', daily_usage.provider
            )
            || metrics.extra_tags
        ) as tags,
        daily_usage.customer,
        daily_usage.feature,
        daily_usage.department,
        daily_usage.team,
        daily_usage.project,
        daily_usage.cost_category,
        daily_usage.environment,
        daily_usage.service,
        daily_usage.region
    from daily_usage
    cross join
        lateral (
            values
            (
                'ai.requests', daily_usage.request_count::numeric, 'requests', true,
                '{}'::jsonb
            ),
            (
                'ai.requests_failed', daily_usage.failed_request_count::numeric,
                'requests', false, '{}'::jsonb
            ),
            (
                'ai.tokens.input_uncached', daily_usage.input_uncached_tokens::numeric,
                'tokens', false, '{}'::jsonb
            ),
            (
                'ai.tokens.cache_read', daily_usage.cache_read_tokens::numeric,
                'tokens', false, '{}'::jsonb
            ),
            (
                'ai.tokens.cache_write_5m', daily_usage.cache_write_tokens::numeric,
                'tokens', false, '{}'::jsonb
            ),
            (
                'ai.tokens.output', daily_usage.output_tokens::numeric,
                'tokens', false, '{}'::jsonb
            ),
            -- Only what the services reported; requests without a cost add nothing.
            (
                'ai.cost', daily_usage.reported_cost_usd, 'USD', true,
                jsonb_build_object(
                    'cost_origin', 'reported',
                    'requests', daily_usage.cost_reported_count
                )
            ),
            (
                'ai.latency_ms', trim_scale(round(daily_usage.mean_latency_ms, 3)), 'ms',
                true,
                jsonb_build_object(
                    'requests', daily_usage.latency_count,
                    'p50_ms', trim_scale(round(daily_usage.p50_latency_ms::numeric, 3)),
                    'p95_ms', trim_scale(round(daily_usage.p95_latency_ms::numeric, 3)),
                    'p99_ms', trim_scale(round(daily_usage.p99_latency_ms::numeric, 3)),
                    'max_ms', daily_usage.max_latency_ms
                )
            )
        ) as metrics (metric_type, value, unit, is_kept_when_zero, extra_tags)
    -- Zero counts add nothing and are dropped; a reported cost or a latency is kept
    -- even at zero. A null value (no cost reported, no successful request) has no row.
    where metrics.value is not null and (metrics.value <> 0 or metrics.is_kept_when_zero)

),

final as (

    select
        {{ metric_id(
            "'product'",
            'observations.natural_key',
            'observations.metric_type',
        ) }} as metric_id,
        observations.observed_at,
        'product' as source_system,
        observations.metric_type,
        observations.value,
        observations.unit,
        observations.tags,
        observations.department,
        observations.team,
        'unallocated' as user_email,
        observations.project,
        observations.customer,
        observations.feature,
        observations.cost_category,
        observations.environment,
        observations.service,
        observations.region
    from observations

)

select * from final
