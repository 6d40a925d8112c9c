{{ config(tags=['metrics_source']) }}

with

int_assistant_messages_priced as (

    select * from {{ ref('int_assistant_messages_priced') }}

),

people as (

    select * from {{ ref('people') }}

),

source_mappings as (

    select * from {{ ref('source_mappings') }}

),

project_mappings as (

    select
        key_value as project_dir,
        department,
        team,
        project,
        environment
    from source_mappings
    where source_system = 'claude_code' and key_name = 'project_dir'

),

observations as (

    select
        messages.assistant_message_id,
        messages.observed_at,
        metrics.metric_type,
        metrics.value,
        metrics.unit,
        jsonb_strip_nulls(
            jsonb_build_object(
                'model', messages.model,
                'session_id', messages.session_id,
                'message_id', messages.message_id,
                'request_id', messages.request_id,
                'git_branch', messages.git_branch,
                'project_dir', messages.project_dir,
                'cwd', messages.cwd,
                'claude_code_version', messages.claude_code_version,
                'is_sidechain', messages.is_sidechain
            )
            || metrics.extra_tags
        ) as tags,
        messages.user_email,
        messages.project_dir
    from int_assistant_messages_priced as messages
    cross join
        lateral (
            values
            (
                'ai.tokens.input_uncached', messages.input_uncached_tokens::numeric,
                'tokens', false, '{}'::jsonb
            ),
            (
                'ai.tokens.cache_read', messages.cache_read_tokens::numeric,
                'tokens', false, '{}'::jsonb
            ),
            (
                'ai.tokens.cache_write_5m', messages.cache_write_5m_tokens::numeric,
                'tokens', false, '{}'::jsonb
            ),
            (
                'ai.tokens.cache_write_1h', messages.cache_write_1h_tokens::numeric,
                'tokens', false, '{}'::jsonb
            ),
            (
                'ai.tokens.output', messages.output_tokens::numeric,
                'tokens', false, '{}'::jsonb
            ),
            (
                'ai.requests', (case when messages.is_synthetic then 0 else 1 end)::numeric,
                'requests', false, '{}'::jsonb
            ),
            -- The estimate is what gets priced; the client's own costUSD, when an old build
            -- wrote one, rides along in the tags for comparison.
            (
                'ai.cost_estimated', messages.estimated_cost_usd,
                'USD', true,
                jsonb_build_object(
                    'price_id', messages.price_id,
                    'reported_cost_usd', messages.reported_cost_usd
                )
            )
        ) as metrics (metric_type, value, unit, is_kept_when_zero, extra_tags)
    -- Zero token counts add nothing and are dropped, and so is the request count of a
    -- line no request stands behind; a null value (unreadable count, or no price for
    -- the model) has no row either. An estimate is kept even at zero.
    where metrics.value is not null and (metrics.value <> 0 or metrics.is_kept_when_zero)

),

allocated as (

    select
        {{ metric_id(
            "'claude_code'",
            'observations.assistant_message_id',
            'observations.metric_type',
        ) }} as metric_id,
        observations.observed_at,
        'claude_code' as source_system,
        observations.metric_type,
        observations.value,
        observations.unit,
        observations.tags,
        -- The person's team and department come first; the project folder's mapping
        -- fills in for people who are not in people.csv.
        coalesce(people.department, project_mappings.department, 'unallocated')
            as department,
        coalesce(people.team, project_mappings.team, 'unallocated') as team,
        coalesce(observations.user_email, 'unallocated') as user_email,
        coalesce(project_mappings.project, 'unallocated') as project,
        'unallocated' as customer,
        'unallocated' as feature,
        'unallocated' as cost_category,
        coalesce(project_mappings.environment, 'unallocated') as environment,
        'Claude Code' as service,
        'unallocated' as region
    from observations
    left join people
        on observations.user_email = lower(people.email)
    left join project_mappings
        on observations.project_dir = project_mappings.project_dir

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
