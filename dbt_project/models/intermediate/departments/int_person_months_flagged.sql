{#-
    One row per person in seeds/people.csv and month the vault holds AI data for,
    saying whether the person used AI that month: they had a Claude Code session, or
    any fct_ai_usage row with their email and tokens above zero (an OpenAI or
    Anthropic API key, the Claude Code analytics report...). Emails match in any case.

    The months are every month with a Claude Code session or an fct_ai_usage row of
    anyone, so a month in which nobody in a department used AI still has its rows.
-#}

with

people as (

    select * from {{ ref('people') }}

),

claude_code_sessions as (

    select * from {{ ref('claude_code_sessions') }}

),

fct_ai_usage as (

    select * from {{ ref('fct_ai_usage') }}

),

months_with_data as (

    select date_trunc('month', started_at at time zone 'UTC')::date as month
    from claude_code_sessions
    union
    select date_trunc('month', usage_started_at at time zone 'UTC')::date as month
    from fct_ai_usage

),

ai_users_by_month as (

    select
        lower(user_email) as user_email,
        date_trunc('month', started_at at time zone 'UTC')::date as month
    from claude_code_sessions
    union
    select
        lower(user_email) as user_email,
        date_trunc('month', usage_started_at at time zone 'UTC')::date as month
    from fct_ai_usage
    where tokens > 0

),

final as (

    select
        ---------- strings
        people.email,
        people.name,
        people.department,
        people.team,
        people.role,

        ---------- booleans
        ai_users.user_email is not null as used_ai,

        ---------- dates
        months.month

    from people
    cross join months_with_data as months
    left join ai_users_by_month as ai_users
        on
            lower(people.email) = ai_users.user_email
            and months.month = ai_users.month

)

select * from final
