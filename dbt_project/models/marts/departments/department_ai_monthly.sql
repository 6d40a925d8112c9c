{#-
    Claude Code use per department, month and task class: sessions, active hours, what
    the tokens cost at list price, the hours the sessions are assumed to have saved and
    what those hours are worth at the people's loaded hourly cost, and the return on
    the AI cost. Every session of claude_code_sessions is in exactly one row
    (tests/assert_department_ai_marts_keep_every_session.sql); sessions of people not
    in people.csv are under department 'unallocated'.
-#}

with

int_claude_code_sessions_valued as (

    select * from {{ ref('int_claude_code_sessions_valued') }}

),

usage_by_task_class as (

    select
        department,
        month,
        task_class,
        task_class_label,
        count(*) as sessions,
        trim_scale(sum(active_hours)) as active_hours,
        trim_scale(sum(ai_cost_usd)) as ai_cost_usd,
        trim_scale(sum(hours_saved)) as hours_saved,
        trim_scale(sum(value_saved_usd)) as value_saved_usd
    from int_claude_code_sessions_valued
    group by department, month, task_class, task_class_label

),

final as (

    select
        department,
        month,
        task_class,
        task_class_label,
        sessions,
        active_hours,
        ai_cost_usd,
        hours_saved,
        value_saved_usd,
        {{ return_on_cost('value_saved_usd', 'ai_cost_usd') }} as roi
    from usage_by_task_class

)

select * from final
