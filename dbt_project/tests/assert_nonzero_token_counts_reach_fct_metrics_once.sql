-- Every nonzero token count in staging appears in fct_metrics exactly once, with the
-- same value, under the metric id its source record and token bucket give it.
-- A failure lists the staging count and what fct_metrics holds for it: a row count of
-- 0 means a token bucket was lost on the way (or fct_metrics is stale for that window
-- and needs a run), more than 1 means it was double counted, a different value means
-- it was changed. Checked over the run window only, which is all time by default.

-- Shown in Dagster as a check on fct_metrics, the table whose contents it proves.
{{ config(meta={'dagster': {'ref': {'name': 'fct_metrics'}}}) }}

with

stg_anthropic__usage_buckets as (

    select * from {{ ref('stg_anthropic__usage_buckets') }}

),

stg_claude_code__assistant_messages as (

    select * from {{ ref('stg_claude_code__assistant_messages') }}

),

fct_metrics as (

    select * from {{ ref('fct_metrics') }}

),

staged_records as (

    select
        'anthropic' as source_system,
        usage_bucket_id as natural_key,
        bucket_started_at as observed_at,
        input_uncached_tokens,
        cache_read_tokens,
        cache_write_5m_tokens,
        cache_write_1h_tokens,
        output_tokens
    from stg_anthropic__usage_buckets

    union all

    select
        'claude_code' as source_system,
        assistant_message_id as natural_key,
        observed_at,
        input_uncached_tokens,
        cache_read_tokens,
        cache_write_5m_tokens,
        cache_write_1h_tokens,
        output_tokens
    from stg_claude_code__assistant_messages

),

staged_counts as (

    select
        {{ metric_id(
            'staged_records.source_system',
            'staged_records.natural_key',
            'buckets.metric_type',
        ) }} as metric_id,
        staged_records.source_system,
        staged_records.natural_key,
        buckets.metric_type,
        buckets.token_count
    from staged_records
    cross join
        lateral (
            values
            ('ai.tokens.input_uncached', staged_records.input_uncached_tokens),
            ('ai.tokens.cache_read', staged_records.cache_read_tokens),
            ('ai.tokens.cache_write_5m', staged_records.cache_write_5m_tokens),
            ('ai.tokens.cache_write_1h', staged_records.cache_write_1h_tokens),
            ('ai.tokens.output', staged_records.output_tokens)
        ) as buckets (metric_type, token_count)
    where
        buckets.token_count <> 0
        and {{ in_run_window('staged_records.observed_at') }}

),

compared as (

    select
        staged_counts.source_system,
        staged_counts.natural_key,
        staged_counts.metric_type,
        staged_counts.token_count,
        count(fct_metrics.metric_id) as fct_row_count,
        sum(fct_metrics.value) as fct_value
    from staged_counts
    left join fct_metrics
        on staged_counts.metric_id = fct_metrics.metric_id
    group by 1, 2, 3, 4

),

final as (

    select *
    from compared
    where fct_row_count <> 1 or fct_value <> token_count

)

select * from final
