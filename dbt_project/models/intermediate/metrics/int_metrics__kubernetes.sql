{{ config(tags=['metrics_source']) }}

{#-
    Each workload's (namespace and controller's) resources per cluster and hour, from the
    hourly snapshots: CPU requested and used in cores, memory requested and used in
    bytes, GPUs requested. Usage rows exist only where the metrics API measured every
    container of the workload; a resource the workload does not request is left out.
    Taxonomy comes from the pod's labels, else its namespace's; the department from the
    team's row in seeds/teams.csv. What the cluster costs is in fct_costs
    (int_costs__kubernetes), not here.
-#}

with

allocations as (

    select * from {{ ref('int_kubernetes__allocations') }}
    where allocation_kind != 'idle'

),

teams as (

    select * from {{ ref('teams') }}

),

observations as (

    select
        allocations.allocation_id,
        allocations.hour_started_at as observed_at,
        quantities.metric_type,
        quantities.value,
        quantities.unit,
        jsonb_strip_nulls(jsonb_build_object(
            'cluster', allocations.cluster_name,
            'namespace', allocations.namespace,
            'controller_kind', allocations.controller_kind,
            'controller', allocations.controller_name,
            'allocation_kind', allocations.allocation_kind,
            'usage_coverage', allocations.usage_coverage,
            'pods', allocations.pod_count
        )) as tags,
        lower(coalesce(
            allocations.pod_labels ->> 'team', allocations.namespace_labels ->> 'team'
        )) as team,
        lower(coalesce(
            allocations.pod_labels ->> 'project', allocations.namespace_labels ->> 'project'
        )) as project,
        lower(coalesce(
            allocations.pod_labels ->> 'environment',
            allocations.pod_labels ->> 'env',
            allocations.namespace_labels ->> 'environment',
            allocations.namespace_labels ->> 'env'
        )) as environment,
        allocations.namespace || '/' || allocations.controller_name as service,
        allocations.region_id
    from allocations
    cross join
        lateral (
            values
            ('infra.cpu.request_cores', allocations.cpu_request_cores, 'cores'),
            ('infra.cpu.usage_cores', allocations.cpu_usage_cores, 'cores'),
            ('infra.memory.request_bytes', allocations.memory_request_bytes, 'bytes'),
            ('infra.memory.usage_bytes', allocations.memory_usage_bytes, 'bytes'),
            ('infra.gpu.request_gpus', allocations.gpu_hours, 'gpus')
        ) as quantities (metric_type, value, unit)
    -- Unknown usage (null) is not zero usage; a request of zero is no request.
    where
        quantities.value is not null
        and not (quantities.metric_type like '%.request_%' and quantities.value = 0)

),

final as (

    select
        {{ metric_id(
            "'kubernetes'",
            'observations.allocation_id',
            'observations.metric_type',
        ) }} as metric_id,
        observations.observed_at,
        'kubernetes' as source_system,
        observations.metric_type,
        observations.value,
        observations.unit,
        observations.tags,
        coalesce(teams.department, 'unallocated') as department,
        coalesce(observations.team, 'unallocated') as team,
        'unallocated' as user_email,
        coalesce(observations.project, 'unallocated') as project,
        'unallocated' as customer,
        'unallocated' as feature,
        'unallocated' as cost_category,
        coalesce(observations.environment, 'unallocated') as environment,
        observations.service,
        coalesce(observations.region_id, 'unallocated') as region
    from observations
    left join teams
        on observations.team = teams.team

)

select * from final
