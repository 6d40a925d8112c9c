{{ config(tags=['metrics_source']) }}

with

stg_openai__completions_usage_buckets as (

    select * from {{ ref('stg_openai__completions_usage_buckets') }}

),

stg_openai__embeddings_usage_buckets as (

    select * from {{ ref('stg_openai__embeddings_usage_buckets') }}

),

stg_openai__images_usage_buckets as (

    select * from {{ ref('stg_openai__images_usage_buckets') }}

),

stg_openai__audio_speeches_usage_buckets as (

    select * from {{ ref('stg_openai__audio_speeches_usage_buckets') }}

),

stg_openai__audio_transcriptions_usage_buckets as (

    select * from {{ ref('stg_openai__audio_transcriptions_usage_buckets') }}

),

stg_openai__cost_items as (

    select * from {{ ref('stg_openai__cost_items') }}

),

source_mappings as (

    select * from {{ ref('source_mappings') }}

),

openai_mappings as (

    select
        key_name,
        key_value,
        department,
        team,
        project,
        environment
    from source_mappings
    where source_system = 'openai'

),

-- Every usage endpoint in one shape: its grouping fields, and its counts with the
-- ones it does not have left null. The endpoint prefixes the natural key, because
-- two endpoints' keys are built from the same fields and could coincide.
usage_buckets as (

    select
        'completions|' || usage_bucket_id as natural_key,
        'completions' as endpoint,
        bucket_started_at,
        bucket_ended_at,
        project_id,
        user_id,
        api_key_id,
        model,
        is_batch,
        service_tier,
        null::text as image_size,
        null::text as image_source,
        input_uncached_tokens,
        input_cached_tokens,
        output_tokens,
        input_audio_tokens,
        output_audio_tokens,
        null::bigint as images,
        null::bigint as characters,
        null::bigint as audio_seconds,
        model_requests
    from stg_openai__completions_usage_buckets

    union all

    select
        'embeddings|' || usage_bucket_id as natural_key,
        'embeddings' as endpoint,
        bucket_started_at,
        bucket_ended_at,
        project_id,
        user_id,
        api_key_id,
        model,
        null::boolean as is_batch,
        null::text as service_tier,
        null::text as image_size,
        null::text as image_source,
        -- Embedding input is never cached: all of it is uncached input.
        input_tokens as input_uncached_tokens,
        null::bigint as input_cached_tokens,
        null::bigint as output_tokens,
        null::bigint as input_audio_tokens,
        null::bigint as output_audio_tokens,
        null::bigint as images,
        null::bigint as characters,
        null::bigint as audio_seconds,
        model_requests
    from stg_openai__embeddings_usage_buckets

    union all

    select
        'images|' || usage_bucket_id as natural_key,
        'images' as endpoint,
        bucket_started_at,
        bucket_ended_at,
        project_id,
        user_id,
        api_key_id,
        model,
        null::boolean as is_batch,
        null::text as service_tier,
        image_size,
        image_source,
        null::bigint as input_uncached_tokens,
        null::bigint as input_cached_tokens,
        null::bigint as output_tokens,
        null::bigint as input_audio_tokens,
        null::bigint as output_audio_tokens,
        images,
        null::bigint as characters,
        null::bigint as audio_seconds,
        model_requests
    from stg_openai__images_usage_buckets

    union all

    select
        'audio_speeches|' || usage_bucket_id as natural_key,
        'audio_speeches' as endpoint,
        bucket_started_at,
        bucket_ended_at,
        project_id,
        user_id,
        api_key_id,
        model,
        null::boolean as is_batch,
        null::text as service_tier,
        null::text as image_size,
        null::text as image_source,
        null::bigint as input_uncached_tokens,
        null::bigint as input_cached_tokens,
        null::bigint as output_tokens,
        null::bigint as input_audio_tokens,
        null::bigint as output_audio_tokens,
        null::bigint as images,
        characters,
        null::bigint as audio_seconds,
        model_requests
    from stg_openai__audio_speeches_usage_buckets

    union all

    select
        'audio_transcriptions|' || usage_bucket_id as natural_key,
        'audio_transcriptions' as endpoint,
        bucket_started_at,
        bucket_ended_at,
        project_id,
        user_id,
        api_key_id,
        model,
        null::boolean as is_batch,
        null::text as service_tier,
        null::text as image_size,
        null::text as image_source,
        null::bigint as input_uncached_tokens,
        null::bigint as input_cached_tokens,
        null::bigint as output_tokens,
        null::bigint as input_audio_tokens,
        null::bigint as output_audio_tokens,
        null::bigint as images,
        null::bigint as characters,
        audio_seconds,
        model_requests
    from stg_openai__audio_transcriptions_usage_buckets

),

usage_observations as (

    select
        usage_buckets.natural_key,
        usage_buckets.bucket_started_at as observed_at,
        quantities.metric_type,
        quantities.value::numeric as value,
        quantities.unit,
        jsonb_strip_nulls(
            jsonb_build_object(
                'endpoint', usage_buckets.endpoint,
                'model', usage_buckets.model,
                'project_id', usage_buckets.project_id,
                'user_id', usage_buckets.user_id,
                'api_key_id', usage_buckets.api_key_id,
                'batch', usage_buckets.is_batch,
                'service_tier', usage_buckets.service_tier,
                'size', usage_buckets.image_size,
                'source', usage_buckets.image_source,
                'bucket_ended_at', usage_buckets.bucket_ended_at
            )
        ) as tags,
        usage_buckets.project_id,
        usage_buckets.api_key_id
    from usage_buckets
    cross join
        lateral (
            values
            ('ai.tokens.input_uncached', usage_buckets.input_uncached_tokens, 'tokens'),
            ('ai.tokens.cache_read', usage_buckets.input_cached_tokens, 'tokens'),
            ('ai.tokens.output', usage_buckets.output_tokens, 'tokens'),
            ('ai.tokens.input_audio', usage_buckets.input_audio_tokens, 'tokens'),
            ('ai.tokens.output_audio', usage_buckets.output_audio_tokens, 'tokens'),
            ('ai.images', usage_buckets.images, 'images'),
            ('ai.audio_characters', usage_buckets.characters, 'characters'),
            ('ai.audio_seconds', usage_buckets.audio_seconds, 'seconds'),
            ('ai.requests', usage_buckets.model_requests, 'requests')
        ) as quantities (metric_type, value, unit)
    -- Zero counts add nothing and are dropped; so are the counts an endpoint does not
    -- have and unreadable ones (null), which the staging tests report.
    where quantities.value <> 0

),

cost_observations as (

    select
        'costs|' || cost_items.cost_item_id as natural_key,
        cost_items.bucket_started_at as observed_at,
        'ai.cost' as metric_type,
        cost_items.amount_usd as value,
        'USD' as unit,
        jsonb_strip_nulls(
            jsonb_build_object(
                'line_item', cost_items.line_item,
                'project_id', cost_items.project_id,
                'bucket_ended_at', cost_items.bucket_ended_at
            )
        ) as tags,
        cost_items.project_id,
        null::text as api_key_id
    from stg_openai__cost_items as cost_items
    where cost_items.amount_usd is not null

),

observations as (

    select * from usage_observations
    union all
    select * from cost_observations

),

allocated as (

    select
        {{ metric_id(
            "'openai'",
            'observations.natural_key',
            'observations.metric_type',
        ) }} as metric_id,
        observations.observed_at,
        'openai' as source_system,
        observations.metric_type,
        observations.value,
        observations.unit,
        observations.tags,
        -- An API key is more specific than its project, so its mapping wins; an empty
        -- cell in the key's row falls through to the project's row.
        coalesce(by_api_key.department, by_project.department, 'unallocated')
            as department,
        coalesce(by_api_key.team, by_project.team, 'unallocated') as team,
        'unallocated' as user_email,
        coalesce(by_api_key.project, by_project.project, 'unallocated') as project,
        'unallocated' as customer,
        'unallocated' as feature,
        'unallocated' as cost_category,
        coalesce(by_api_key.environment, by_project.environment, 'unallocated')
            as environment,
        'OpenAI API' as service,
        'unallocated' as region
    from observations
    left join openai_mappings as by_api_key
        on
            by_api_key.key_name = 'api_key_id'
            and observations.api_key_id = by_api_key.key_value
    left join openai_mappings as by_project
        on
            by_project.key_name = 'project_id'
            and observations.project_id = by_project.key_value

),

final as (

    select
        metric_id,
        observed_at,
        source_system,
        metric_type,
        value,
        unit,
        tags,
        department,
        team,
        user_email,
        project,
        customer,
        feature,
        cost_category,
        environment,
        service,
        region
    from allocated

)

select * from final
