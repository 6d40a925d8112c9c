{{ config(tags=['metrics_source']) }}

with

stg_anthropic__usage_buckets as (

    select * from {{ ref('stg_anthropic__usage_buckets') }}

),

stg_anthropic__cost_items as (

    select * from {{ ref('stg_anthropic__cost_items') }}

),

source_mappings as (

    select * from {{ ref('source_mappings') }}

),

anthropic_mappings as (

    select
        key_name,
        key_value,
        department,
        team,
        project,
        environment
    from source_mappings
    where source_system = 'anthropic'

),

token_observations as (

    select
        usage_buckets.usage_bucket_id as natural_key,
        usage_buckets.bucket_started_at as observed_at,
        tokens.metric_type,
        tokens.value,
        'tokens' as unit,
        jsonb_strip_nulls(
            jsonb_build_object(
                'model', usage_buckets.model,
                'workspace_id', usage_buckets.workspace_id,
                'api_key_id', usage_buckets.api_key_id,
                'service_tier', usage_buckets.service_tier,
                'context_window', usage_buckets.context_window,
                'inference_geo', usage_buckets.inference_geo,
                'bucket_ended_at', usage_buckets.bucket_ended_at
            )
        ) as tags,
        usage_buckets.workspace_id,
        usage_buckets.api_key_id,
        usage_buckets.inference_geo
    from stg_anthropic__usage_buckets as usage_buckets
    cross join
        lateral (
            values
            ('ai.tokens.input_uncached', usage_buckets.input_uncached_tokens),
            ('ai.tokens.cache_read', usage_buckets.cache_read_tokens),
            ('ai.tokens.cache_write_5m', usage_buckets.cache_write_5m_tokens),
            ('ai.tokens.cache_write_1h', usage_buckets.cache_write_1h_tokens),
            ('ai.tokens.output', usage_buckets.output_tokens)
        ) as tokens (metric_type, value)
    -- Zero counts add nothing and are dropped; so are unreadable (null) counts, which
    -- the staging tests report.
    where tokens.value <> 0

),

cost_observations as (

    select
        cost_items.cost_item_id as natural_key,
        cost_items.bucket_started_at as observed_at,
        'ai.cost' as metric_type,
        cost_items.amount_usd as value,
        'USD' as unit,
        jsonb_strip_nulls(
            jsonb_build_object(
                'model', cost_items.model,
                'workspace_id', cost_items.workspace_id,
                'service_tier', cost_items.service_tier,
                'context_window', cost_items.context_window,
                'cost_type', cost_items.cost_type,
                'token_type', cost_items.token_type,
                'description', cost_items.description,
                'bucket_ended_at', cost_items.bucket_ended_at
            )
        ) as tags,
        cost_items.workspace_id,
        null::text as api_key_id,
        null::text as inference_geo
    from stg_anthropic__cost_items as cost_items
    where cost_items.amount_usd is not null

),

observations as (

    select * from token_observations
    union all
    select * from cost_observations

),

allocated as (

    select
        {{ metric_id(
            "'anthropic'",
            'observations.natural_key',
            'observations.metric_type',
        ) }} as metric_id,
        observations.observed_at,
        'anthropic' as source_system,
        observations.metric_type,
        observations.value,
        observations.unit,
        observations.tags,
        -- An API key is more specific than its workspace, so its mapping wins; an empty
        -- cell in the key's row falls through to the workspace's row.
        coalesce(by_api_key.department, by_workspace.department, 'unallocated')
            as department,
        coalesce(by_api_key.team, by_workspace.team, 'unallocated') as team,
        'unallocated' as user_email,
        coalesce(by_api_key.project, by_workspace.project, 'unallocated') as project,
        'unallocated' as customer,
        'unallocated' as feature,
        'unallocated' as cost_category,
        coalesce(by_api_key.environment, by_workspace.environment, 'unallocated')
            as environment,
        'Anthropic API' as service,
        coalesce(observations.inference_geo, 'unallocated') as region
    from observations
    left join anthropic_mappings as by_api_key
        on
            by_api_key.key_name = 'api_key_id'
            and observations.api_key_id = by_api_key.key_value
    -- The report leaves workspace_id null for the default workspace; a mapping row
    -- with key_value "default" allocates it.
    left join anthropic_mappings as by_workspace
        on
            by_workspace.key_name = 'workspace_id'
            and coalesce(observations.workspace_id, 'default') = by_workspace.key_value

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
