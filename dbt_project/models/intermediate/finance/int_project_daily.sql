{#-
    What each project cost and earned per UTC day, from every system, before it is put
    into lifecycle phases: one row per project and day with a value.

    - ai_tool_cost_usd: AI used to build the project: its Claude Code sessions at list
      price (estimated; Claude Code is not in a bill of its own) and its AI API cost
      outside production (development keys and workspaces, and unstated environments
      before the project reached production).
    - production_ai_cost_usd: its AI API cost in production (stated, or unstated on a
      day the project was in production: a workspace's bill does not split environments).
    - engineer_hours, engineer_time_cost_usd: engineer time on it (ledger kind
      engineer_time), with how many of those hours were estimated from sessions.
    - infrastructure_cost_usd: cloud lines attributed to the project plus its share of the
      Kubernetes cluster (the allocation lines: the nodes' own bill lines belong to the
      shared platform, so counting both for a project counts nothing twice).
    - engineers: who worked on it that day, comma-separated emails.
    - customer_requests: requests of the project's features (the product's ai.requests).
    - revenue_usd: revenue its features earned (int_revenue__recognised_daily).
-#}

with

costs as (

    select
        *,
        -- Serving the project's users: stated production, or a bill that does not say
        -- (a workspace shared by environments) on a day the project was in production.
        environment = 'production'
        or (environment = 'unallocated' and project_phase = 'production') as in_production
    from {{ ref('cost_attribution') }}
    where project != 'unallocated'

),

sessions as (

    select * from {{ ref('claude_code_sessions') }}
    where project != 'unallocated'

),

features as (

    select * from {{ ref('features') }}

),

product_requests as (

    select * from {{ ref('fct_metrics') }}
    where source_system = 'product' and metric_type = 'ai.requests'

),

recognised_revenue as (

    select * from {{ ref('int_revenue__recognised_daily') }}

),

requests as (

    select
        features.project,
        (metrics.observed_at at time zone 'UTC')::date as day,
        sum(metrics.value) as customer_requests
    from product_requests as metrics
    inner join features
        on metrics.feature = features.feature
    group by 1, 2

),

revenue as (

    select
        features.project,
        revenue.revenue_day as day,
        sum(revenue.revenue_usd) as revenue_usd
    from recognised_revenue as revenue
    inner join features
        on revenue.feature = features.feature
    group by 1, 2

),

ledger as (

    select
        project,
        charge_day as day,
        sum(billed_cost_usd) filter (
            where cost_kind = 'ai' and counts_in_totals and not in_production
        ) as ai_api_cost_usd,
        sum(billed_cost_usd) filter (
            where cost_kind = 'ai' and counts_in_totals and in_production
        ) as production_ai_cost_usd,
        sum(consumed_quantity) filter (where cost_kind = 'engineer_time') as engineer_hours,
        sum(consumed_quantity) filter (
            where cost_kind = 'engineer_time' and x_estimated
        ) as estimated_engineer_hours,
        sum(billed_cost_usd) filter (where cost_kind = 'engineer_time')
            as engineer_time_cost_usd,
        sum(billed_cost_usd) filter (
            where
            (cost_kind = 'cloud' and counts_in_totals)
            or (cost_kind = 'infrastructure' and not counts_in_totals)
        ) as infrastructure_cost_usd
    from costs
    group by 1, 2

),

session_costs as (

    select
        project,
        (started_at at time zone 'UTC')::date as day,
        sum(estimated_cost_usd) as claude_code_cost_usd
    from sessions
    group by 1, 2

),

-- Who worked on the project each day: engineer time in the ledger, Claude Code sessions.
engineer_days as (

    select
        project,
        day,
        string_agg(distinct user_email, ',' order by user_email) as engineers
    from (
        select
            project,
            charge_day as day,
            user_email
        from costs
        where cost_kind = 'engineer_time'
        union
        select
            project,
            (started_at at time zone 'UTC')::date,
            user_email
        from sessions
    ) as people_on_days
    group by 1, 2

),

keys as (

    select
        project,
        day
    from ledger
    union
    select
        project,
        day
    from session_costs
    union
    select
        project,
        day
    from requests
    union
    select
        project,
        day
    from revenue

),

final as (

    select
        keys.project,
        keys.day,
        coalesce(session_costs.claude_code_cost_usd, 0)
        + coalesce(ledger.ai_api_cost_usd, 0) as ai_tool_cost_usd,
        coalesce(ledger.production_ai_cost_usd, 0) as production_ai_cost_usd,
        coalesce(ledger.engineer_hours, 0) as engineer_hours,
        coalesce(ledger.estimated_engineer_hours, 0) as estimated_engineer_hours,
        coalesce(ledger.engineer_time_cost_usd, 0) as engineer_time_cost_usd,
        coalesce(ledger.infrastructure_cost_usd, 0) as infrastructure_cost_usd,
        coalesce(requests.customer_requests, 0) as customer_requests,
        coalesce(revenue.revenue_usd, 0) as revenue_usd,
        coalesce(engineer_days.engineers, '') as engineers
    from keys
    left join ledger
        on keys.project = ledger.project and keys.day = ledger.day
    left join session_costs
        on keys.project = session_costs.project and keys.day = session_costs.day
    left join requests
        on keys.project = requests.project and keys.day = requests.day
    left join revenue
        on keys.project = revenue.project and keys.day = revenue.day
    left join engineer_days
        on keys.project = engineer_days.project and keys.day = engineer_days.day

)

select * from final
