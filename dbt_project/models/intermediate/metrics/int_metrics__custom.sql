{{ config(tags=['metrics_source']) }}

{#-
    The observations of every vault.yaml-only source (http_api, sql, log_files) in the
    universal metric shape. The collectors have already mapped each record to a metric,
    value, unit, tags and any taxonomy the record states; here the taxonomy the record
    does not state comes from seeds/custom_source_mappings.csv (a row for one of the
    observation's tag values first, then the entry's own row), then from the person's
    and the team's rows, else "unallocated". The record's own taxonomy always wins.
-#}

with

stg_custom__http_metrics as (

    select * from {{ ref('stg_custom__http_metrics') }}

),

stg_custom__sql_metrics as (

    select * from {{ ref('stg_custom__sql_metrics') }}

),

stg_custom__log_metrics as (

    select * from {{ ref('stg_custom__log_metrics') }}

),

custom_source_mappings as (

    select * from {{ ref('custom_source_mappings') }}

),

people as (

    select * from {{ ref('people') }}

),

teams as (

    select * from {{ ref('teams') }}

),

observations as (

    select
        'http_api' as collector,
        *
    from stg_custom__http_metrics

    union all

    select
        'sql' as collector,
        *
    from stg_custom__sql_metrics

    union all

    select
        'log_files' as collector,
        *
    from stg_custom__log_metrics

),

-- One mapping per column: a row for one of the observation's tag values wins over the
-- entry's own row (empty tag), and among tag rows the first tag in alphabetical order.
mapped as (

    select
        observations.*,
        mapped_taxonomy.department as mapped_department,
        mapped_taxonomy.team as mapped_team,
        mapped_taxonomy.project as mapped_project,
        mapped_taxonomy.environment as mapped_environment
    from observations
    left join lateral (
        select
            (
                array_agg(
                    mappings.department
                    order by mappings.tag is null, mappings.tag
                ) filter (where mappings.department is not null)
            )[1] as department,
            (
                array_agg(
                    mappings.team
                    order by mappings.tag is null, mappings.tag
                ) filter (where mappings.team is not null)
            )[1] as team,
            (
                array_agg(
                    mappings.project
                    order by mappings.tag is null, mappings.tag
                ) filter (where mappings.project is not null)
            )[1] as project,
            (
                array_agg(
                    mappings.environment
                    order by mappings.tag is null, mappings.tag
                ) filter (where mappings.environment is not null)
            )[1] as environment
        from custom_source_mappings as mappings
        where
            mappings.entry = observations.entry
            and (
                mappings.tag is null
                or observations.tags ->> mappings.tag = mappings.tag_value
            )
    ) as mapped_taxonomy on true

),

allocated as (

    select
        {{ metric_id(
            'mapped.source_system',
            "mapped.collector || '|' || mapped.observation_id",
            'mapped.metric_type',
        ) }} as metric_id,
        mapped.observed_at,
        mapped.source_system,
        mapped.metric_type,
        mapped.value,
        mapped.unit,
        mapped.tags
        || jsonb_build_object('entry', mapped.entry, 'collector', mapped.collector)
            as tags,
        coalesce(
            mapped.department,
            mapped.mapped_department,
            people.department,
            teams.department,
            'unallocated'
        ) as department,
        coalesce(mapped.team, mapped.mapped_team, people.team, 'unallocated') as team,
        coalesce(mapped.user_email, 'unallocated') as user_email,
        coalesce(mapped.project, mapped.mapped_project, 'unallocated') as project,
        coalesce(mapped.customer, 'unallocated') as customer,
        coalesce(mapped.feature, 'unallocated') as feature,
        coalesce(mapped.cost_category, 'unallocated') as cost_category,
        coalesce(mapped.environment, mapped.mapped_environment, 'unallocated')
            as environment,
        coalesce(mapped.service, 'unallocated') as service,
        coalesce(mapped.region, 'unallocated') as region
    from mapped
    left join people
        on mapped.user_email = people.email
    left join teams
        on coalesce(mapped.team, mapped.mapped_team, people.team) = teams.team
    -- A raw row edited by hand to an unreadable time or value fails the staging
    -- tests; it is left out here rather than given a made-up time or value.
    where
        mapped.observed_at is not null
        and mapped.value is not null

),

final as (

    select
        metric_id,
        observed_at,
        source_system,
        metric_type,
        value,
        unit,
        tags,
        department,
        team,
        user_email,
        project,
        customer,
        feature,
        cost_category,
        environment,
        service,
        region
    from allocated

)

select * from final
