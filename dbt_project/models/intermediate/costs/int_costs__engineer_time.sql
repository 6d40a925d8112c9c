{{ config(tags=['costs_source']) }}

{#-
    Engineers' time as ledger lines: one per person, UTC day, project and task class,
    the hours times the person's loaded hourly cost (seeds/people.csv).

    Hours come from time entries where a source provides them: fct_metrics rows of
    metric_type work.hours (unit hours) with the person's user_email, from any source
    (a timesheet database through the sql collector, a time tracker's API through
    http_api). For a person and day with no time entry, the hours are estimated from
    Claude Code sessions: the active minutes of each session (first to last response),
    on the session's project and task class, so x_estimated is true and the tag
    x_hours_basis says which. A person with time entries on a day is never also
    estimated for that day. People missing from people.csv have no rate and no line.
-#}

with

people as (

    select * from {{ ref('people') }}

),

time_entries as (

    select
        user_email,
        (observed_at at time zone 'UTC')::date as work_day,
        nullif(project, 'unallocated') as project,
        nullif(tags ->> 'task_class', '') as task_class,
        sum(value) as hours
    from {{ ref('fct_metrics') }}
    where metric_type = 'work.hours' and user_email != 'unallocated'
    group by 1, 2, 3, 4

),

session_hours as (

    select
        user_email,
        (started_at at time zone 'UTC')::date as work_day,
        nullif(project, 'unallocated') as project,
        nullif(task_class, 'unclassified') as task_class,
        round(sum(active_minutes) / 60.0, 4) as hours
    from {{ ref('claude_code_sessions') }}
    where active_minutes > 0
    group by 1, 2, 3, 4

),

work as (

    select
        *,
        'time_entries' as hours_basis
    from time_entries
    union all
    select
        session_hours.*,
        'estimated_from_sessions' as hours_basis
    from session_hours
    where not exists (
            select 1 from time_entries
            where
                time_entries.user_email = session_hours.user_email
                and time_entries.work_day = session_hours.work_day
        )

),

final as (

    select
        ---------- ids
        {{ cost_id(
            "'engineer_time'",
            "work.user_email, work.work_day, coalesce(work.project, ''),"
            ~ " coalesce(work.task_class, '')"
        ) }} as x_cost_id,
        'engineer_time' as x_source_system,
        'people' as billing_account_id,
        null as sub_account_id,
        null as invoice_id,
        null as sku_id,
        null as sku_price_id,
        work.user_email as resource_id,
        null as commitment_discount_id,

        ---------- strings
        'Loaded cost of people' as billing_account_name,
        null as billing_account_type,
        'USD' as billing_currency,
        null as sub_account_name,
        null as sub_account_type,
        'Internal' as invoice_issuer_name,
        'Internal' as provider_name,
        'Internal' as publisher_name,
        'Usage' as charge_category,
        null as charge_class,
        'Engineering time of ' || people.name as charge_description,
        'Usage-Based' as charge_frequency,
        'Other' as service_category,
        'Engineering Time' as service_subcategory,
        'Engineering time' as service_name,
        'Standard' as pricing_category,
        'Hours' as pricing_unit,
        'Hours' as consumed_unit,
        people.role as sku_meter,
        people.name as resource_name,
        'Person' as resource_type,
        null as region_id,
        null as region_name,
        null as availability_zone,
        null as commitment_discount_name,
        null as commitment_discount_type,
        null as commitment_discount_category,
        null as commitment_discount_status,
        people.department as x_department,
        people.team as x_team,
        work.user_email as x_user_email,
        work.project as x_project,
        null as x_customer,
        null as x_feature,
        null as x_cost_category,
        null as x_environment,

        ---------- numerics
        round(work.hours * people.hourly_cost_usd, 2) as billed_cost,
        round(work.hours * people.hourly_cost_usd, 2) as effective_cost,
        round(work.hours * people.hourly_cost_usd, 2) as list_cost,
        round(work.hours * people.hourly_cost_usd, 2) as contracted_cost,
        people.hourly_cost_usd as list_unit_price,
        people.hourly_cost_usd as contracted_unit_price,
        work.hours as pricing_quantity,
        work.hours as consumed_quantity,

        ---------- jsonb
        jsonb_strip_nulls(jsonb_build_object(
            'x_task_class', work.task_class,
            'x_hours_basis', work.hours_basis
        )) as tags,

        ---------- booleans
        work.hours_basis != 'time_entries' as x_estimated,

        ---------- timestamps
        (date_trunc('month', work.work_day)::timestamp at time zone 'UTC')
            as billing_period_start,
        ((date_trunc('month', work.work_day) + interval '1 month')::timestamp at time zone 'UTC')
            as billing_period_end,
        (work.work_day::timestamp at time zone 'UTC') as charge_period_start,
        ((work.work_day + 1)::timestamp at time zone 'UTC') as charge_period_end

    from work
    inner join people
        on work.user_email = people.email
    where work.hours > 0

)

select * from final
