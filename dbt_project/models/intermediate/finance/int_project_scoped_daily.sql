{#-
    int_project_daily twice over: scope own, each project's own rows; scope
    with_sub_projects, for each project that has sub-projects, its rows and those of every
    project below it, under the parent's name (owner). The project marts group by owner.
-#}

with

daily as (

    select * from {{ ref('int_project_daily') }}

),

lineage as (

    select * from {{ ref('int_project_lineage') }}

),

parents as (

    select distinct ancestor from lineage
    where depth > 0

),

final as (

    select
        'own' as scope,
        daily.project as owner,
        daily.project,
        daily.day,
        daily.ai_tool_cost_usd,
        daily.production_ai_cost_usd,
        daily.engineer_hours,
        daily.estimated_engineer_hours,
        daily.engineer_time_cost_usd,
        daily.infrastructure_cost_usd,
        daily.customer_requests,
        daily.revenue_usd,
        daily.engineers
    from daily

    union all

    select
        'with_sub_projects' as scope,
        lineage.ancestor as owner,
        daily.project,
        daily.day,
        daily.ai_tool_cost_usd,
        daily.production_ai_cost_usd,
        daily.engineer_hours,
        daily.estimated_engineer_hours,
        daily.engineer_time_cost_usd,
        daily.infrastructure_cost_usd,
        daily.customer_requests,
        daily.revenue_usd,
        daily.engineers
    from daily
    inner join lineage
        on daily.project = lineage.descendant
    inner join parents
        on lineage.ancestor = parents.ancestor

)

select * from final
