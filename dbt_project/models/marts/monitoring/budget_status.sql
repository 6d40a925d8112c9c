{#-
    Each budget of seeds/budgets.csv against its spend, one row per budget and calendar
    month (UTC), from the budget's first month with spend (or the current month, if it
    has none yet) to the current month.

    - Spend is cost_attribution's billed_cost_usd of the lines that count in money
      totals (not the Kubernetes allocations that re-divide a node's bill), within the
      budget's scope: the department, the project and its sub-projects
      (int_project_lineage), or the customer; and, when the budget names them, of its
      cost_kind and cost_category only.
    - spent_fraction is spend / amount; status is hard once it reaches hard_threshold,
      soft once it reaches soft_threshold, else ok.
    - The projection is linear: the current month's spend per complete day so far,
      times the days of the month. Today is not a complete day (the collectors load
      whole days), so on the 1st there is no projection. A month already over is
      projected at its spend.
    - "Now" is the build's UTC date, or var budget_as_of (an ISO date) when set, so that
      tests and reruns can fix it.
-#}

{%- set as_of = var('budget_as_of', none) -%}

with

budgets as (

    select * from {{ ref('budgets') }}

),

cost_attribution as (

    select * from {{ ref('cost_attribution') }}

),

int_project_lineage as (

    select * from {{ ref('int_project_lineage') }}

),

as_of as (

    select
        {% if as_of -%}
            '{{ as_of }}'::date
        {%- else -%}
            (now() at time zone 'UTC')::date
        {%- endif %} as as_of_date

),

counted_costs as (

    select
        charge_month,
        department,
        project,
        customer,
        cost_kind,
        cost_category,
        billed_cost_usd
    from cost_attribution
    where counts_in_totals

),

-- Each cost line once per budget it counts towards.
budget_costs as (

    select
        budgets.budget,
        counted_costs.charge_month,
        counted_costs.billed_cost_usd
    from budgets
    inner join counted_costs
        on
            (budgets.cost_kind is null or budgets.cost_kind = counted_costs.cost_kind)
            and (
                budgets.cost_category is null
                or budgets.cost_category = counted_costs.cost_category
            )
            and (
                (
                    budgets.scope_type = 'department'
                    and budgets.scope = counted_costs.department
                )
                or (
                    budgets.scope_type = 'customer'
                    and budgets.scope = counted_costs.customer
                )
                or (
                    budgets.scope_type = 'project'
                    and exists (
                        select 1
                        from int_project_lineage
                        where
                            int_project_lineage.ancestor = budgets.scope
                            and int_project_lineage.descendant = counted_costs.project
                    )
                )
            )

),

monthly_spend as (

    select
        budget,
        charge_month,
        sum(billed_cost_usd) as spend_usd
    from budget_costs
    group by budget, charge_month

),

first_spend as (

    select
        budget,
        min(charge_month) as first_month
    from monthly_spend
    group by budget

),

budget_months as (

    select
        budgets.budget,
        months.budget_month::date as budget_month
    from budgets
    cross join as_of
    left join first_spend
        on budgets.budget = first_spend.budget
    cross join lateral generate_series(
        least(
            coalesce(first_spend.first_month, as_of.as_of_date),
            date_trunc('month', as_of.as_of_date)
        ),
        date_trunc('month', as_of.as_of_date),
        interval '1 month'
    ) as months (budget_month)

),

measured as (

    select
        budgets.budget,
        budgets.scope_type,
        budgets.scope,
        budgets.cost_kind,
        budgets.cost_category,
        budget_months.budget_month,
        budgets.monthly_amount_usd,
        budgets.soft_threshold,
        budgets.hard_threshold,
        coalesce(monthly_spend.spend_usd, 0) as spend_usd,
        extract(
            day from budget_months.budget_month + interval '1 month - 1 day'
        )::integer as days_in_month,
        budget_months.budget_month = date_trunc('month', as_of.as_of_date)
            as is_current_month,
        case
            when budget_months.budget_month = date_trunc('month', as_of.as_of_date)
                then as_of.as_of_date - budget_months.budget_month
            else
                extract(
                    day from budget_months.budget_month + interval '1 month - 1 day'
                )::integer
        end as complete_days
    from budget_months
    inner join budgets
        on budget_months.budget = budgets.budget
    cross join as_of
    left join monthly_spend
        on
            budget_months.budget = monthly_spend.budget
            and budget_months.budget_month = monthly_spend.charge_month

),

final as (

    select
        budget,
        scope_type,
        scope,
        cost_kind,
        cost_category,
        budget_month,
        monthly_amount_usd,
        round(spend_usd, 2) as spend_usd,
        round(spend_usd / monthly_amount_usd, 4) as spent_fraction,
        soft_threshold,
        hard_threshold,
        case
            when spend_usd >= hard_threshold * monthly_amount_usd then 'hard'
            when spend_usd >= soft_threshold * monthly_amount_usd then 'soft'
            else 'ok'
        end as status,
        complete_days,
        days_in_month,
        case
            when not is_current_month then round(spend_usd, 2)
            when complete_days > 0
                then round(spend_usd / complete_days * days_in_month, 2)
        end as projected_spend_usd,
        case
            when not is_current_month then round(spend_usd / monthly_amount_usd, 4)
            when complete_days > 0
                then round(
                        spend_usd / complete_days * days_in_month / monthly_amount_usd, 4
                    )
        end as projected_fraction,
        is_current_month
    from measured

)

select * from final
