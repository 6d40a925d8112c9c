{#-
    How many people of each department used AI in each month the vault holds AI data
    for: the headcount in people.csv, those with a Claude Code session or any AI usage
    under their email (tokens above zero) that month, and the rest. The people
    without AI use are listed by name in people_without_ai_usage.
-#}

with

int_person_months_flagged as (

    select * from {{ ref('int_person_months_flagged') }}

),

final as (

    select
        department,
        month,
        count(*) as people,
        count(*) filter (where used_ai) as people_using_ai,
        count(*) filter (where not used_ai) as people_without_ai
    from int_person_months_flagged
    group by department, month

)

select * from final
