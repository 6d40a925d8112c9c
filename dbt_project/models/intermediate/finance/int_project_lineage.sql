{#-
    Every (ancestor, descendant) pair of projects.csv's parent chains, each project being
    its own ancestor at depth 0: a parent's rollup is its descendants' rows, and a
    project's root is its ancestor of greatest depth. Chains deeper than 20 are cut.
-#}

with recursive

projects as (

    select * from {{ ref('projects') }}

),

lineage as (

    select
        project as ancestor,
        project as descendant,
        0 as depth
    from projects

    union all

    select
        lineage.ancestor,
        child.project as descendant,
        lineage.depth + 1 as depth
    from lineage
    inner join projects as child
        on lineage.descendant = child.parent_project
    where lineage.depth < 20

)

select * from lineage
