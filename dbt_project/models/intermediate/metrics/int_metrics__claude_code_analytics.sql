{{ config(tags=['metrics_source']) }}

with

stg_anthropic__claude_code_user_days as (

    select * from {{ ref('stg_anthropic__claude_code_user_days') }}

),

stg_anthropic__claude_code_model_days as (

    select * from {{ ref('stg_anthropic__claude_code_model_days') }}

),

people as (

    select * from {{ ref('people') }}

),

activity_observations as (

    select
        user_days.claude_code_user_day_id || activities.key_suffix as natural_key,
        user_days.claude_code_user_day_id,
        activities.metric_type,
        activities.value::numeric as value,
        activities.unit,
        activities.extra_tags
    from stg_anthropic__claude_code_user_days as user_days
    cross join
        lateral (
            values
            ('ai.sessions', user_days.sessions, 'sessions', '', '{}'::jsonb),
            ('code.lines_added', user_days.lines_added, 'lines', '', '{}'::jsonb),
            ('code.lines_removed', user_days.lines_removed, 'lines', '', '{}'::jsonb),
            ('code.commits', user_days.commits, 'commits', '', '{}'::jsonb),
            (
                'code.pull_requests', user_days.pull_requests, 'pull_requests', '',
                '{}'::jsonb
            ),
            (
                'ai.tool_decisions', user_days.edit_tool_accepted, 'decisions',
                '|edit_tool|accepted', '{"tool": "edit_tool", "decision": "accepted"}'::jsonb
            ),
            (
                'ai.tool_decisions', user_days.edit_tool_rejected, 'decisions',
                '|edit_tool|rejected', '{"tool": "edit_tool", "decision": "rejected"}'::jsonb
            ),
            (
                'ai.tool_decisions', user_days.multi_edit_tool_accepted, 'decisions',
                '|multi_edit_tool|accepted',
                '{"tool": "multi_edit_tool", "decision": "accepted"}'::jsonb
            ),
            (
                'ai.tool_decisions', user_days.multi_edit_tool_rejected, 'decisions',
                '|multi_edit_tool|rejected',
                '{"tool": "multi_edit_tool", "decision": "rejected"}'::jsonb
            ),
            (
                'ai.tool_decisions', user_days.write_tool_accepted, 'decisions',
                '|write_tool|accepted', '{"tool": "write_tool", "decision": "accepted"}'::jsonb
            ),
            (
                'ai.tool_decisions', user_days.write_tool_rejected, 'decisions',
                '|write_tool|rejected', '{"tool": "write_tool", "decision": "rejected"}'::jsonb
            ),
            (
                'ai.tool_decisions', user_days.notebook_edit_tool_accepted, 'decisions',
                '|notebook_edit_tool|accepted',
                '{"tool": "notebook_edit_tool", "decision": "accepted"}'::jsonb
            ),
            (
                'ai.tool_decisions', user_days.notebook_edit_tool_rejected, 'decisions',
                '|notebook_edit_tool|rejected',
                '{"tool": "notebook_edit_tool", "decision": "rejected"}'::jsonb
            )
        ) as activities (metric_type, value, unit, key_suffix, extra_tags)
    -- Zero counts add nothing and are dropped, like zero token counts; so are
    -- unreadable (null) counts, which the staging tests report.
    where activities.value <> 0

),

model_observations as (

    select
        model_days.claude_code_model_day_id as natural_key,
        model_days.claude_code_user_day_id,
        metrics.metric_type,
        metrics.value,
        metrics.unit,
        jsonb_build_object('model', model_days.model) || metrics.extra_tags as extra_tags
    from stg_anthropic__claude_code_model_days as model_days
    cross join
        lateral (
            values
            (
                'ai.tokens.input_uncached', model_days.input_uncached_tokens::numeric,
                'tokens', false, '{}'::jsonb
            ),
            (
                'ai.tokens.cache_read', model_days.cache_read_tokens::numeric,
                'tokens', false, '{}'::jsonb
            ),
            -- The report does not split cache writes by lifetime; as for Claude Code
            -- builds that do not either, the total counts as 5-minute writes, the default.
            (
                'ai.tokens.cache_write_5m', model_days.cache_write_tokens::numeric,
                'tokens', false, '{}'::jsonb
            ),
            (
                'ai.tokens.output', model_days.output_tokens::numeric,
                'tokens', false, '{}'::jsonb
            ),
            -- The report's own estimate, not priced from model_prices.csv; kept at zero.
            (
                'ai.cost_estimated', model_days.estimated_cost_usd,
                'USD', true, '{"cost_origin": "vendor_estimate"}'::jsonb
            )
        ) as metrics (metric_type, value, unit, is_kept_when_zero, extra_tags)
    where metrics.value is not null and (metrics.value <> 0 or metrics.is_kept_when_zero)

),

observations as (

    select * from activity_observations
    union all
    select * from model_observations

),

allocated as (

    select
        {{ metric_id(
            "'claude_code_analytics'",
            'observations.natural_key',
            'observations.metric_type',
        ) }} as metric_id,
        user_days.activity_started_at as observed_at,
        'claude_code_analytics' as source_system,
        observations.metric_type,
        observations.value,
        observations.unit,
        jsonb_strip_nulls(
            jsonb_build_object(
                'actor_type', user_days.actor_type,
                'api_key_name', user_days.api_key_name,
                'customer_type', user_days.customer_type,
                'terminal_type', user_days.terminal_type,
                'organization_id', user_days.organization_id
            )
            || observations.extra_tags
        ) as tags,
        -- The report names people by email only; people.csv gives their team and
        -- department. API key actors and people not in the file stay unallocated.
        coalesce(people.department, 'unallocated') as department,
        coalesce(people.team, 'unallocated') as team,
        coalesce(user_days.user_email, 'unallocated') as user_email,
        'unallocated' as project,
        'unallocated' as customer,
        'unallocated' as feature,
        'unallocated' as cost_category,
        'unallocated' as environment,
        'Claude Code' as service,
        'unallocated' as region
    from observations
    inner join stg_anthropic__claude_code_user_days as user_days
        on observations.claude_code_user_day_id = user_days.claude_code_user_day_id
    left join people
        on user_days.user_email = lower(people.email)

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
