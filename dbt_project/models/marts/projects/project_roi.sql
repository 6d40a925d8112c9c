{#-
    Per project (and scope, as in project_lifecycle): what has been invested in it so far,
    what it has earned, and whether it has paid back. Investment is every cost
    project_lifecycle counts (AI tools, engineer time, infrastructure, AI in production);
    revenue is what its features earned. roi_to_date = (revenue - investment) /
    investment. payback_months counts the months from the project's first month with a
    cost up to and including the first month in which revenue to date reached investment
    to date; null while it has not.
-#}

with

projects as (

    select * from {{ ref('projects') }}

),

scoped as (

    select * from {{ ref('int_project_scoped_daily') }}

),

monthly as (

    select
        scope,
        owner as project,
        date_trunc('month', day)::date as month,
        sum(
            ai_tool_cost_usd + engineer_time_cost_usd
            + infrastructure_cost_usd + production_ai_cost_usd
        ) as cost_usd,
        sum(revenue_usd) as revenue_usd
    from scoped
    group by 1, 2, 3

),

running as (

    select
        monthly.*,
        sum(monthly.cost_usd) over to_date as cost_to_date,
        sum(monthly.revenue_usd) over to_date as revenue_to_date,
        min(monthly.month) filter (where monthly.cost_usd > 0)
            over (partition by monthly.scope, monthly.project)
            as first_month
    from monthly
    window to_date as (partition by scope, project order by month)

),

final as (

    select
        running.project,
        projects.name,
        coalesce(nullif(projects.parent_project, ''), 'none') as parent_project,
        running.scope,
        min(running.first_month) as first_month,
        count(*) filter (where running.month >= running.first_month) as months,
        round(sum(running.cost_usd), 2) as total_investment_usd,
        round(sum(running.revenue_usd), 2) as revenue_to_date_usd,
        round(sum(running.revenue_usd) - sum(running.cost_usd), 2) as margin_to_date_usd,
        case
            when sum(running.cost_usd) > 0
                then round(
                        (sum(running.revenue_usd) - sum(running.cost_usd)) / sum(running.cost_usd),
                        4
                    )
        end as roi_to_date,
        (
            extract(year from age(
                min(running.month) filter (
                    where running.revenue_to_date >= running.cost_to_date
                    and running.cost_to_date > 0
                ),
                min(running.first_month)
            )) * 12
            + extract(month from age(
                min(running.month) filter (
                    where running.revenue_to_date >= running.cost_to_date
                    and running.cost_to_date > 0
                ),
                min(running.first_month)
            ))
            + 1
        )::integer as payback_months
    from running
    inner join projects
        on running.project = projects.project
    group by 1, 2, 3, 4

)

select * from final
