{#-
    One row per Claude Code session: who, which project, what kind of task, how long,
    how many tokens and what they cost at list price. Built from fct_metrics (the
    transcripts' rows carry the session id in their tags) and the session's task class.
-#}

with

fct_metrics as (

    select * from {{ ref('fct_metrics') }}
    where source_system = 'claude_code'

),

int_claude_code_sessions_classified as (

    select * from {{ ref('int_claude_code_sessions_classified') }}

),

session_metrics as (

    select
        tags ->> 'session_id' as session_id,
        min(user_email) as user_email,
        min(department) as department,
        min(team) as team,
        min(project) as project,
        min(tags ->> 'project_dir') as project_dir,
        count(distinct tags ->> 'model') as models_used,
        sum(value) filter (where metric_type = 'ai.requests') as requests,
        sum(value) filter (where metric_type = 'ai.tokens.input_uncached')
            as input_uncached_tokens,
        sum(value) filter (where metric_type = 'ai.tokens.cache_read') as cache_read_tokens,
        sum(value) filter (
            where metric_type in ('ai.tokens.cache_write_5m', 'ai.tokens.cache_write_1h')
        ) as cache_write_tokens,
        sum(value) filter (where metric_type = 'ai.tokens.output') as output_tokens,
        sum(value) filter (where metric_type = 'ai.cost_estimated') as estimated_cost_usd,
        min(observed_at) as started_at,
        max(observed_at) as ended_at
    from fct_metrics
    where tags ? 'session_id'
    group by 1

),

final as (

    select
        ---------- ids
        session_metrics.session_id,

        ---------- strings
        session_metrics.user_email,
        session_metrics.department,
        session_metrics.team,
        session_metrics.project,
        session_metrics.project_dir,
        coalesce(sessions.task_class, 'unclassified') as task_class,
        coalesce(sessions.class_origin, 'none') as class_origin,

        ---------- numerics
        session_metrics.models_used,
        coalesce(session_metrics.requests, 0) as requests,
        coalesce(session_metrics.input_uncached_tokens, 0) as input_uncached_tokens,
        coalesce(session_metrics.cache_read_tokens, 0) as cache_read_tokens,
        coalesce(session_metrics.cache_write_tokens, 0) as cache_write_tokens,
        coalesce(session_metrics.output_tokens, 0) as output_tokens,
        coalesce(session_metrics.estimated_cost_usd, 0) as estimated_cost_usd,
        round(
            extract(epoch from session_metrics.ended_at - session_metrics.started_at) / 60,
            1
        ) as active_minutes,

        ---------- timestamps
        session_metrics.started_at,
        session_metrics.ended_at

    from session_metrics
    left join int_claude_code_sessions_classified as sessions
        on session_metrics.session_id = sessions.session_id

)

select * from final
