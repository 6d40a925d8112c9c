-- A project is in one phase on a day: no two rows of project_phases.csv for the same
-- project cover a common day (ended_on is exclusive, empty means open). A failure names
-- the project and both phases.

with

phases as (

    select * from {{ ref('project_phases') }}

)

select
    earlier.project,
    earlier.phase as earlier_phase,
    earlier.started_on as earlier_started_on,
    later.phase as later_phase,
    later.started_on as later_started_on
from phases as earlier
inner join phases as later
    on
        earlier.project = later.project
        and earlier.started_on < later.started_on
where earlier.ended_on is null or earlier.ended_on > later.started_on
