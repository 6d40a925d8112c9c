{{ config(tags=['metrics_source']) }}

with

stg_datadog__points as (

    select * from {{ ref('stg_datadog__points') }}

),

source_mappings as (

    select * from {{ ref('source_mappings') }}

),

teams as (

    select * from {{ ref('teams') }}

),

datadog_mappings as (

    select
        key_name,
        key_value,
        department,
        team,
        project,
        environment
    from source_mappings
    where source_system = 'datadog'

),

-- A point Datadog states as null (no data in its interval) is no observation.
observations as (

    select
        point_id,
        observed_at,
        query_name as metric_type,
        value,
        unit,
        tags,
        service,
        team as team_tag,
        environment as environment_tag,
        region
    from stg_datadog__points
    where value is not null

),

-- A team tag on the series wins (its department from teams), then the mapping of its
-- service tag; an env tag wins over the mapping's environment.
allocated as (

    select
        {{ metric_id(
            "'datadog'",
            'observations.point_id',
            'observations.metric_type',
        ) }} as metric_id,
        observations.observed_at,
        'datadog' as source_system,
        observations.metric_type,
        observations.value,
        observations.unit,
        observations.tags,
        case
            when observations.team_tag is not null
                then coalesce(tagged_team.department, 'unallocated')
            else coalesce(by_service.department, 'unallocated')
        end as department,
        coalesce(observations.team_tag, by_service.team, 'unallocated') as team,
        'unallocated' as user_email,
        coalesce(by_service.project, 'unallocated') as project,
        'unallocated' as customer,
        'unallocated' as feature,
        'unallocated' as cost_category,
        coalesce(
            observations.environment_tag, by_service.environment, 'unallocated'
        ) as environment,
        coalesce(observations.service, 'unallocated') as service,
        coalesce(observations.region, 'unallocated') as region
    from observations
    left join teams as tagged_team
        on observations.team_tag = tagged_team.team
    left join datadog_mappings as by_service
        on
            by_service.key_name = 'service'
            and observations.service = by_service.key_value

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
