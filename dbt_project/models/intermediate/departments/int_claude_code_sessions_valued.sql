{#-
    One row per Claude Code session with what it is assumed to have saved: the
    session's active hours times its task class's estimated_time_saved_factor
    (seeds/task_classes.csv) are the hours saved, and the hours saved times the
    person's loaded hourly cost (seeds/people.csv) the value saved. The session's
    tokens at list price are its AI cost.

    Department and team are the person's in people.csv (email matched in any case);
    a session of someone not in the file is kept under 'unallocated', with no hourly
    cost and so no value saved. A session without a task class (unclassified) has no
    factor and so saves no hours.
-#}

with

claude_code_sessions as (

    select * from {{ ref('claude_code_sessions') }}

),

people as (

    select * from {{ ref('people') }}

),

task_classes as (

    select * from {{ ref('task_classes') }}

),

sessions_with_person as (

    select
        sessions.session_id,
        sessions.user_email,
        coalesce(people.department, 'unallocated') as department,
        coalesce(people.team, 'unallocated') as team,
        sessions.task_class,
        coalesce(task_classes.label, 'Unclassified') as task_class_label,
        sessions.estimated_cost_usd as ai_cost_usd,
        sessions.active_minutes / 60.0 as active_hours,
        coalesce(task_classes.estimated_time_saved_factor, 0) as time_saved_factor,
        coalesce(people.hourly_cost_usd, 0) as hourly_cost_usd,
        people.email is not null as is_known_person,
        date_trunc('month', sessions.started_at at time zone 'UTC')::date as month
    from claude_code_sessions as sessions
    left join people
        on lower(sessions.user_email) = lower(people.email)
    left join task_classes
        on sessions.task_class = task_classes.task_class

),

final as (

    select
        ---------- ids
        session_id,

        ---------- strings
        user_email,
        department,
        team,
        task_class,
        task_class_label,

        ---------- numerics
        -- trim_scale drops the trailing zeros that division and multiplication leave
        -- (1.5000000000000000 hours), which change nothing but the display.
        trim_scale(ai_cost_usd) as ai_cost_usd,
        trim_scale(active_hours) as active_hours,
        trim_scale(time_saved_factor) as time_saved_factor,
        trim_scale(hourly_cost_usd) as hourly_cost_usd,
        trim_scale(active_hours * time_saved_factor) as hours_saved,
        trim_scale(active_hours * time_saved_factor * hourly_cost_usd) as value_saved_usd,

        ---------- booleans
        is_known_person,

        ---------- dates
        month

    from sessions_with_person

)

select * from final
