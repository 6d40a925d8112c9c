with

stg_claude_code__hook_events as (

    select * from {{ ref('stg_claude_code__hook_events') }}

),

task_classes as (

    select * from {{ ref('task_classes') }}

),

prompts as (

    select
        hook_event_id,
        session_id,
        task_class,
        user_email,
        project_dir,
        occurred_at
    from stg_claude_code__hook_events
    where event_type = 'prompt_classified' and session_id is not null

),

overrides as (

    select
        hook_event_id,
        session_id,
        task_class,
        user_email,
        occurred_at
    from stg_claude_code__hook_events
    where
        event_type = 'manual_override'
        and session_id is not null
        and task_class is not null

),

prompt_counts_per_class as (

    select
        session_id,
        task_class,
        count(*) as prompt_count
    from prompts
    group by session_id, task_class

),

-- The class most of a session's prompts got; a tie goes to the class ranked first in
-- the task_classes seed (the hook's own tie order), then to the name.
rule_classes as (

    select distinct on (prompt_counts_per_class.session_id)
        prompt_counts_per_class.session_id,
        prompt_counts_per_class.task_class
    from prompt_counts_per_class
    left join task_classes
        on prompt_counts_per_class.task_class = task_classes.task_class
    order by
        prompt_counts_per_class.session_id asc,
        prompt_counts_per_class.prompt_count desc,
        task_classes.tie_break_rank asc nulls last,
        prompt_counts_per_class.task_class asc

),

latest_overrides as (

    select distinct on (session_id)
        session_id,
        task_class,
        user_email,
        occurred_at as overridden_at
    from overrides
    order by session_id asc, occurred_at desc, hook_event_id desc

),

prompt_sessions as (

    select
        session_id,
        -- One person and one folder per session; the latest known value if they differ.
        (array_agg(user_email order by occurred_at desc) filter (
            where user_email is not null
        ))[1] as user_email,
        (array_agg(project_dir order by occurred_at desc) filter (
            where project_dir is not null
        ))[1] as project_dir,
        count(*) as prompt_count,
        min(occurred_at) as first_prompt_at,
        max(occurred_at) as last_prompt_at
    from prompts
    group by session_id

),

-- Every session with a prompt or an override: a session can be classified by hand
-- before the hook was installed.
sessions as (

    select session_id from prompt_sessions
    union
    select session_id from latest_overrides

),

final as (

    select
        sessions.session_id,
        coalesce(latest_overrides.task_class, rule_classes.task_class) as task_class,
        case
            when latest_overrides.session_id is not null then 'manual' else 'rules'
        end as class_origin,
        rule_classes.task_class as rule_task_class,
        coalesce(prompt_sessions.user_email, latest_overrides.user_email) as user_email,
        prompt_sessions.project_dir,
        coalesce(prompt_sessions.prompt_count, 0) as prompt_count,
        prompt_sessions.first_prompt_at,
        prompt_sessions.last_prompt_at,
        latest_overrides.overridden_at
    from sessions
    left join prompt_sessions
        on sessions.session_id = prompt_sessions.session_id
    left join rule_classes
        on sessions.session_id = rule_classes.session_id
    left join latest_overrides
        on sessions.session_id = latest_overrides.session_id

)

select * from final
