-- Every budget has a positive monthly amount and thresholds with 0 < soft <= hard: a
-- zero amount would make every month's spent fraction infinite, and a soft threshold
-- above the hard one would send the soft alert after the hard one. A failure names the
-- budget and the offending values.

with

budgets as (

    select * from {{ ref('budgets') }}

)

select
    budget,
    monthly_amount_usd,
    soft_threshold,
    hard_threshold
from budgets
where
    monthly_amount_usd <= 0
    or soft_threshold <= 0
    or soft_threshold > hard_threshold
