-- Reconciliation: each department budget's spend in each month equals cost_attribution's
-- money total (lines that count in totals) of that department and month, under the
-- budget's own cost_kind and cost_category filters, to the cent. A failure names the
-- budget, the month and both totals: budget_status lost or double-counted a line.

with

budget_status as (

    select * from {{ ref('budget_status') }}

),

budgets as (

    select * from {{ ref('budgets') }}

),

cost_attribution as (

    select * from {{ ref('cost_attribution') }}

),

ledger_totals as (

    select
        budgets.budget,
        cost_attribution.charge_month,
        sum(cost_attribution.billed_cost_usd) as spend_usd
    from budgets
    inner join cost_attribution
        on
            budgets.scope = cost_attribution.department
            and (budgets.cost_kind is null or budgets.cost_kind = cost_attribution.cost_kind)
            and (
                budgets.cost_category is null
                or budgets.cost_category = cost_attribution.cost_category
            )
    where budgets.scope_type = 'department' and cost_attribution.counts_in_totals
    group by budgets.budget, cost_attribution.charge_month

),

department_budgets as (

    select
        budget,
        budget_month,
        spend_usd
    from budget_status
    where scope_type = 'department'

)

select
    coalesce(department_budgets.budget, ledger_totals.budget) as budget,
    coalesce(department_budgets.budget_month, ledger_totals.charge_month) as budget_month,
    department_budgets.spend_usd as budget_spend_usd,
    ledger_totals.spend_usd as ledger_spend_usd
from department_budgets
full outer join ledger_totals
    on
        department_budgets.budget = ledger_totals.budget
        and department_budgets.budget_month = ledger_totals.charge_month
where
    abs(coalesce(department_budgets.spend_usd, 0) - coalesce(ledger_totals.spend_usd, 0))
    >= 0.005
