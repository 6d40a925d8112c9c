-- department_ai_adoption agrees with people.csv and with people_without_ai_usage: per
-- department and month, the headcount is the department's people in people.csv, the
-- people using AI and those without add up to it, and those without are exactly the
-- people people_without_ai_usage lists. A failing row names the department and month
-- with the adoption figures beside the counted ones.

{{ config(meta={'dagster': {'ref': {'name': 'department_ai_adoption'}}}) }}

with

department_ai_adoption as (

    select * from {{ ref('department_ai_adoption') }}

),

people_without_ai_usage as (

    select * from {{ ref('people_without_ai_usage') }}

),

headcount as (

    select
        department,
        count(*) as people
    from {{ ref('people') }}
    group by department

),

listed_without_ai as (

    select
        department,
        month,
        count(*) as people_without_ai
    from people_without_ai_usage
    group by department, month

),

final as (

    select
        adoption.department,
        adoption.month,
        adoption.people,
        adoption.people_using_ai,
        adoption.people_without_ai,
        coalesce(headcount.people, 0) as people_in_people_csv,
        coalesce(listed.people_without_ai, 0) as people_listed_without_ai
    from department_ai_adoption as adoption
    left join headcount
        on adoption.department = headcount.department
    left join listed_without_ai as listed
        on
            adoption.department = listed.department
            and adoption.month = listed.month
    where
        adoption.people != coalesce(headcount.people, 0)
        or adoption.people != adoption.people_using_ai + adoption.people_without_ai
        or adoption.people_without_ai != coalesce(listed.people_without_ai, 0)

)

select * from final
