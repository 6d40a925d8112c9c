{#-
    Everyone in people.csv who did not use AI in a month the vault holds AI data for:
    no Claude Code session and no AI usage under their email (tokens above zero) that
    month. One row per person and month; department_ai_adoption counts them.
-#}

with

int_person_months_flagged as (

    select * from {{ ref('int_person_months_flagged') }}

),

final as (

    select
        department,
        team,
        month,
        email,
        name,
        role
    from int_person_months_flagged
    where not used_ai

)

select * from final
