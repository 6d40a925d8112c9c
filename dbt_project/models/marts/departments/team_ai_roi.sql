{#-
    Claude Code's return per team and month, and how each team ranks within its
    department that month (1 = the highest return). Every team of teams.csv has a row
    for every month with sessions, used or not, so a team without AI use shows as
    such; a team with no AI cost has no return and no rank. Teams are the people's
    teams in people.csv; sessions of people not in the file are under
    'unallocated'.
-#}

with

int_claude_code_sessions_valued as (

    select * from {{ ref('int_claude_code_sessions_valued') }}

),

teams as (

    select * from {{ ref('teams') }}

),

usage_by_team as (

    select
        department,
        team,
        month,
        count(*) as sessions,
        trim_scale(sum(ai_cost_usd)) as ai_cost_usd,
        trim_scale(sum(hours_saved)) as hours_saved,
        trim_scale(sum(value_saved_usd)) as value_saved_usd
    from int_claude_code_sessions_valued
    group by department, team, month

),

months_with_sessions as (

    select distinct month from usage_by_team

),

team_months as (

    select
        teams.department,
        teams.team,
        months.month
    from teams
    cross join months_with_sessions as months
    union
    select
        department,
        team,
        month
    from usage_by_team

),

team_returns as (

    select
        team_months.department,
        team_months.team,
        team_months.month,
        coalesce(usage_by_team.sessions, 0) as sessions,
        coalesce(usage_by_team.ai_cost_usd, 0) as ai_cost_usd,
        coalesce(usage_by_team.hours_saved, 0) as hours_saved,
        coalesce(usage_by_team.value_saved_usd, 0) as value_saved_usd,
        {{ return_on_cost('usage_by_team.value_saved_usd', 'usage_by_team.ai_cost_usd') }}
            as roi
    from team_months
    left join usage_by_team
        on
            team_months.department = usage_by_team.department
            and team_months.team = usage_by_team.team
            and team_months.month = usage_by_team.month

),

final as (

    select
        department,
        team,
        month,
        sessions,
        ai_cost_usd,
        hours_saved,
        value_saved_usd,
        roi,
        case
            when roi is not null
                then rank() over (partition by department, month order by roi desc nulls last)
        end as roi_rank_in_department
    from team_returns

)

select * from final
