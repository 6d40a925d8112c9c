-- Every person the Claude Code analytics report names by email is in people.csv. A
-- failure lists each unknown email with the first and last day it was reported and on
-- how many days: until people.csv gains a row for them, their sessions, code and
-- tokens in fct_metrics have no team or department (both "unallocated"). A warning,
-- not an error, because a new hire can use Claude Code before the file is updated.

-- Shown in Dagster as a check on the staging model whose emails it checks.
{{ config(
    severity='warn',
    meta={'dagster': {'ref': {'name': 'stg_anthropic__claude_code_user_days'}}},
) }}

with

stg_anthropic__claude_code_user_days as (

    select * from {{ ref('stg_anthropic__claude_code_user_days') }}

),

people as (

    select * from {{ ref('people') }}

),

final as (

    select
        user_days.user_email,
        min(user_days.activity_date) as first_reported_on,
        max(user_days.activity_date) as last_reported_on,
        count(distinct user_days.activity_date) as days_reported
    from stg_anthropic__claude_code_user_days as user_days
    left join people
        on user_days.user_email = lower(people.email)
    where user_days.user_email is not null and people.email is null
    group by 1

)

select * from final
