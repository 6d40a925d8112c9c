{#-
    What the company spent per calendar quarter, as finance reads it: by cost category
    (COGS, R&D, OpEx, unallocated) and, under each, what the money was for. Two scopes
    share the table:
    - ai: AI cost only (cost_kind ai), by the feature it serves, else the task class of
      the work, else the project, else 'unallocated' (detail_kind says which);
    - all: every cost (AI, cloud, infrastructure, SaaS, engineer time), by kind.
    Leaf rows only: a report builds the tree and its totals by adding them up. Lines that
    re-divide money already counted (counts_in_totals false) are left out, so each scope's
    total for a quarter equals the ledger's for it.
-#}

with

costs as (

    select * from {{ ref('cost_attribution') }}
    where counts_in_totals

),

ai as (

    select
        charge_quarter as quarter,
        'ai' as scope,
        cost_category,
        case
            when feature != 'unallocated' then 'feature'
            when task_class != 'unallocated' then 'task_class'
            else 'project'
        end as detail_kind,
        case
            when feature != 'unallocated' then feature
            when task_class != 'unallocated' then task_class
            else project
        end as detail,
        billed_cost_usd,
        x_estimated
    from costs
    where cost_kind = 'ai'

),

all_costs as (

    select
        charge_quarter as quarter,
        'all' as scope,
        cost_category,
        'cost_kind' as detail_kind,
        cost_kind as detail,
        billed_cost_usd,
        x_estimated
    from costs

),

unioned as (

    select * from ai
    union all
    select * from all_costs

),

final as (

    select
        quarter,
        scope,
        cost_category,
        detail_kind,
        detail,
        round(sum(billed_cost_usd), 2) as cost_usd,
        round(coalesce(sum(billed_cost_usd) filter (where x_estimated), 0), 2)
            as estimated_cost_usd
    from unioned
    group by quarter, scope, cost_category, detail_kind, detail

)

select * from final
