-- Every Claude Code session is counted once in department_ai_monthly and once in
-- team_ai_roi: per month, their sessions and AI cost equal those of
-- claude_code_sessions. A failing row names the mart and the month with both
-- figures; fewer sessions in the mart means some were lost (a join that drops
-- them), more means some were counted twice (a join that repeats them).

{{ config(meta={'dagster': {'ref': {'name': 'department_ai_monthly'}}}) }}

with

claude_code_sessions as (

    select * from {{ ref('claude_code_sessions') }}

),

department_ai_monthly as (

    select * from {{ ref('department_ai_monthly') }}

),

team_ai_roi as (

    select * from {{ ref('team_ai_roi') }}

),

sessions_by_month as (

    select
        date_trunc('month', started_at at time zone 'UTC')::date as month,
        count(*) as sessions,
        sum(estimated_cost_usd) as ai_cost_usd
    from claude_code_sessions
    group by date_trunc('month', started_at at time zone 'UTC')::date

),

marts_by_month as (

    select
        'department_ai_monthly' as mart,
        month,
        sum(sessions) as sessions,
        sum(ai_cost_usd) as ai_cost_usd
    from department_ai_monthly
    group by month
    union all
    select
        'team_ai_roi' as mart,
        month,
        sum(sessions) as sessions,
        sum(ai_cost_usd) as ai_cost_usd
    from team_ai_roi
    group by month

),

mart_names as (

    select mart from (values ('department_ai_monthly'), ('team_ai_roi')) as marts (mart)

),

expected as (

    select
        mart_names.mart,
        sessions_by_month.month,
        sessions_by_month.sessions,
        sessions_by_month.ai_cost_usd
    from sessions_by_month
    cross join mart_names

),

final as (

    select
        coalesce(expected.mart, marts_by_month.mart) as mart,
        coalesce(expected.month, marts_by_month.month) as month,
        coalesce(expected.sessions, 0) as sessions_in_claude_code_sessions,
        coalesce(marts_by_month.sessions, 0) as sessions_in_mart,
        coalesce(expected.ai_cost_usd, 0) as ai_cost_usd_in_claude_code_sessions,
        coalesce(marts_by_month.ai_cost_usd, 0) as ai_cost_usd_in_mart
    from expected
    full outer join marts_by_month
        on
            expected.mart = marts_by_month.mart
            and expected.month = marts_by_month.month
    where
        coalesce(expected.sessions, 0) != coalesce(marts_by_month.sessions, 0)
        or abs(coalesce(expected.ai_cost_usd, 0) - coalesce(marts_by_month.ai_cost_usd, 0))
        >= 0.005

)

select * from final
