{{ config(tags=['metrics_source']) }}

with

stg_prometheus__samples as (

    select * from {{ ref('stg_prometheus__samples') }}

),

source_mappings as (

    select * from {{ ref('source_mappings') }}

),

teams as (

    select * from {{ ref('teams') }}

),

prometheus_mappings as (

    select
        key_name,
        key_value,
        department,
        team,
        project,
        environment
    from source_mappings
    where source_system = 'prometheus'

),

-- fct_metrics holds finite numbers only: NaN and infinities stay in staging.
observations as (

    select
        sample_id,
        sampled_at as observed_at,
        query_name as metric_type,
        value,
        unit,
        jsonb_strip_nulls(jsonb_build_object('value_kind', value_kind))
        || tags as tags,
        namespace,
        service,
        team as team_label,
        environment as environment_label,
        region
    from stg_prometheus__samples
    where is_finite

),

-- A team label on the series wins (its department from teams); then the service's
-- mapping, then the namespace's; an empty cell falls through to the next.
allocated as (

    select
        {{ metric_id(
            "'prometheus'",
            'observations.sample_id',
            'observations.metric_type',
        ) }} as metric_id,
        observations.observed_at,
        'prometheus' as source_system,
        observations.metric_type,
        observations.value,
        observations.unit,
        observations.tags,
        case
            when observations.team_label is not null
                then coalesce(labelled_team.department, 'unallocated')
            else coalesce(by_service.department, by_namespace.department, 'unallocated')
        end as department,
        coalesce(
            observations.team_label, by_service.team, by_namespace.team, 'unallocated'
        ) as team,
        'unallocated' as user_email,
        coalesce(by_service.project, by_namespace.project, 'unallocated') as project,
        'unallocated' as customer,
        'unallocated' as feature,
        'unallocated' as cost_category,
        coalesce(
            observations.environment_label,
            by_service.environment,
            by_namespace.environment,
            'unallocated'
        ) as environment,
        coalesce(observations.service, 'unallocated') as service,
        coalesce(observations.region, 'unallocated') as region
    from observations
    left join teams as labelled_team
        on observations.team_label = labelled_team.team
    left join prometheus_mappings as by_service
        on
            by_service.key_name = 'service'
            and observations.service = by_service.key_value
    left join prometheus_mappings as by_namespace
        on
            by_namespace.key_name = 'namespace'
            and observations.namespace = by_namespace.key_value

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
