{#-
    OpenCost's allocation model over the hourly snapshots: one row per cluster, hour and
    workload (namespace and controller), plus one __idle__ row per node whose idle cost
    is not shared.

    1. Every container of a Running pod is charged max(request, usage) of CPU, RAM and
       GPU (the request alone where usage is unknown; a GPU's request is its limit when
       only the limit is set) at the hourly rates of the node it runs on.
    2. Idle cost is what a node's capacity costs less what is allocated on it, per
       resource. `separate` leaves it on its node's __idle__ row; `share_by_node` and
       `share_by_cluster` give it to the workloads of the node, or of the cluster, per
       resource in proportion to their cost of that resource (idle CPU follows CPU cost,
       idle RAM follows RAM cost), or in proportion to their total cost where nobody
       uses that resource. A scope with nothing allocated keeps its idle rows.
    3. The shared namespaces' cost, their idle share included, then goes to every other
       workload of the cluster and hour: `even` in equal parts, `weighted` in
       proportion to the receivers' cost. A shared workload gives its cost away as a
       negative shared_cost (its total becomes 0); with nobody to receive, it keeps it.

    So per cluster and hour, allocated + idle + shared cost over all rows equals what the
    nodes cost (tests/assert_kubernetes_allocation_preserves_node_cost.sql). The policy
    is the one each snapshot recorded from vault.yaml, unless the dbt vars
    kubernetes_idle, kubernetes_share or kubernetes_shared_namespaces set another for
    every hour (macros/kubernetes.sql).
-#}

{#- Labels Kubernetes puts on each pod of a controller, which say nothing of the workload. -#}
{%- set per_pod_labels = [
    'pod-template-hash', 'pod-template-generation', 'controller-revision-hash',
    'statefulset.kubernetes.io/pod-name', 'apps.kubernetes.io/pod-index',
    'job-name', 'batch.kubernetes.io/job-name', 'controller-uid',
    'batch.kubernetes.io/controller-uid', 'batch.kubernetes.io/job-completion-index',
] -%}
{%- set per_pod_label_array = "array['" ~ (per_pod_labels | join("', '")) ~ "']" -%}

with

stg_kubernetes__nodes as (

    select * from {{ ref('stg_kubernetes__nodes') }}

),

stg_kubernetes__pod_containers as (

    select * from {{ ref('stg_kubernetes__pod_containers') }}

),

nodes as (

    select
        cluster_name,
        hour_started_at,
        node_name,
        region_id,
        availability_zone,
        idle_policy,
        share_policy,
        shared_namespaces,
        cpu_core_hourly_usd,
        ram_gib_hourly_usd,
        gpu_hourly_usd,
        capacity_cpu_cores * cpu_core_hourly_usd as node_cpu_cost,
        capacity_memory_bytes * ram_gib_hourly_usd / 1073741824 as node_ram_cost,
        coalesce(capacity_gpus, 0) * gpu_hourly_usd as node_gpu_cost
    from stg_kubernetes__nodes

),

policies as (

    select
        cluster_name,
        hour_started_at,
        coalesce(
            {{ kubernetes_policy_var('kubernetes_idle') }}, min(idle_policy), 'separate'
        ) as idle_policy,
        coalesce(
            {{ kubernetes_policy_var('kubernetes_share') }}, min(share_policy), 'weighted'
        ) as share_policy,
        coalesce(
            {{ kubernetes_policy_var('kubernetes_shared_namespaces') }},
            (array_agg(shared_namespaces order by node_name))[1],
            '[]'::jsonb
        ) as shared_namespaces
    from nodes
    group by cluster_name, hour_started_at

),

-- Containers that hold resources this hour: of Running pods, on a node of the snapshot.
running_containers as (

    select
        containers.cluster_name,
        containers.hour_started_at,
        containers.node_name,
        containers.namespace,
        containers.controller_kind,
        containers.controller_name,
        containers.pod_name,
        containers.pod_labels,
        containers.namespace_labels,
        containers.cpu_usage_cores,
        containers.memory_usage_bytes,
        coalesce(containers.cpu_request_cores, containers.cpu_limit_cores, 0)
            as cpu_request_cores,
        coalesce(containers.memory_request_bytes, containers.memory_limit_bytes, 0)
            as memory_request_bytes,
        coalesce(containers.gpu_request, containers.gpu_limit, 0) as gpus
    from stg_kubernetes__pod_containers as containers
    inner join nodes
        on
            containers.cluster_name = nodes.cluster_name
            and containers.hour_started_at = nodes.hour_started_at
            and containers.node_name = nodes.node_name
    where containers.phase = 'Running'

),

workload_nodes as (

    select
        cluster_name,
        hour_started_at,
        node_name,
        namespace,
        controller_kind,
        controller_name,
        count(distinct pod_name) as pod_count,
        count(*) as container_count,
        count(*) filter (
            where cpu_usage_cores is null or memory_usage_bytes is null
        ) as containers_without_usage,
        sum(cpu_request_cores) as cpu_request_cores,
        sum(cpu_usage_cores) as cpu_usage_cores,
        sum(greatest(cpu_request_cores, coalesce(cpu_usage_cores, 0))) as cpu_cores,
        sum(memory_request_bytes) as memory_request_bytes,
        sum(memory_usage_bytes) as memory_usage_bytes,
        sum(greatest(memory_request_bytes, coalesce(memory_usage_bytes, 0))) as ram_bytes,
        sum(gpus) as gpus,
        (array_agg(pod_labels order by pod_name))[1] - {{ per_pod_label_array }} as pod_labels,
        (array_agg(namespace_labels order by pod_name))[1]
        - 'kubernetes.io/metadata.name' as namespace_labels
    from running_containers
    group by
        cluster_name,
        hour_started_at,
        node_name,
        namespace,
        controller_kind,
        controller_name

),

costed as (

    select
        workload_nodes.*,
        nodes.region_id,
        policies.idle_policy,
        policies.share_policy,
        policies.shared_namespaces ? workload_nodes.namespace as is_shared,
        -- The idle cost a row can receive: its node's, or (null) the whole cluster's.
        case
            when policies.idle_policy = 'share_by_node' then workload_nodes.node_name
        end as idle_scope,
        workload_nodes.cpu_cores * nodes.cpu_core_hourly_usd as cpu_cost,
        workload_nodes.ram_bytes * nodes.ram_gib_hourly_usd / 1073741824 as ram_cost,
        workload_nodes.gpus * nodes.gpu_hourly_usd as gpu_cost
    from workload_nodes
    inner join nodes
        on
            workload_nodes.cluster_name = nodes.cluster_name
            and workload_nodes.hour_started_at = nodes.hour_started_at
            and workload_nodes.node_name = nodes.node_name
    inner join policies
        on
            workload_nodes.cluster_name = policies.cluster_name
            and workload_nodes.hour_started_at = policies.hour_started_at

),

node_idle as (

    select
        nodes.cluster_name,
        nodes.hour_started_at,
        nodes.node_name,
        nodes.region_id,
        nodes.availability_zone,
        policies.idle_policy,
        case when policies.idle_policy = 'share_by_node' then nodes.node_name end as idle_scope,
        nodes.node_cpu_cost - coalesce(sum(costed.cpu_cost), 0) as idle_cpu_cost,
        nodes.node_ram_cost - coalesce(sum(costed.ram_cost), 0) as idle_ram_cost,
        nodes.node_gpu_cost - coalesce(sum(costed.gpu_cost), 0) as idle_gpu_cost
    from nodes
    inner join policies
        on
            nodes.cluster_name = policies.cluster_name
            and nodes.hour_started_at = policies.hour_started_at
    left join costed
        on
            nodes.cluster_name = costed.cluster_name
            and nodes.hour_started_at = costed.hour_started_at
            and nodes.node_name = costed.node_name
    group by
        nodes.cluster_name,
        nodes.hour_started_at,
        nodes.node_name,
        nodes.region_id,
        nodes.availability_zone,
        policies.idle_policy,
        nodes.node_cpu_cost,
        nodes.node_ram_cost,
        nodes.node_gpu_cost

),

-- Idle cost to share, per scope (a node, or the cluster) and resource.
scope_idle as (

    select
        cluster_name,
        hour_started_at,
        idle_scope,
        sum(idle_cpu_cost) as idle_cpu_cost,
        sum(idle_ram_cost) as idle_ram_cost,
        sum(idle_gpu_cost) as idle_gpu_cost
    from node_idle
    where idle_policy != 'separate'
    group by cluster_name, hour_started_at, idle_scope

),

-- What the workloads of each scope are allocated, per resource and in all.
scope_costs as (

    select
        cluster_name,
        hour_started_at,
        idle_scope,
        sum(cpu_cost) as scope_cpu_cost,
        sum(ram_cost) as scope_ram_cost,
        sum(gpu_cost) as scope_gpu_cost,
        sum(cpu_cost + ram_cost + gpu_cost) as scope_cost
    from costed
    group by cluster_name, hour_started_at, idle_scope

),

-- Each resource's idle cost in proportion to the row's cost of that resource; where
-- nobody in the scope has any (no GPU workload), in proportion to its total cost.
idle_shares as (

    select
        costed.*,
        costed.cpu_cost + costed.ram_cost + costed.gpu_cost as allocated_cost,
        case
            when scope_costs.scope_cpu_cost > 0
                then scope_idle.idle_cpu_cost * costed.cpu_cost / scope_costs.scope_cpu_cost
            when scope_costs.scope_cost > 0
                then
                    scope_idle.idle_cpu_cost
                    * (costed.cpu_cost + costed.ram_cost + costed.gpu_cost)
                    / scope_costs.scope_cost
        end as idle_cpu_share,
        case
            when scope_costs.scope_ram_cost > 0
                then scope_idle.idle_ram_cost * costed.ram_cost / scope_costs.scope_ram_cost
            when scope_costs.scope_cost > 0
                then
                    scope_idle.idle_ram_cost
                    * (costed.cpu_cost + costed.ram_cost + costed.gpu_cost)
                    / scope_costs.scope_cost
        end as idle_ram_share,
        case
            when scope_costs.scope_gpu_cost > 0
                then scope_idle.idle_gpu_cost * costed.gpu_cost / scope_costs.scope_gpu_cost
            when scope_costs.scope_cost > 0
                then
                    scope_idle.idle_gpu_cost
                    * (costed.cpu_cost + costed.ram_cost + costed.gpu_cost)
                    / scope_costs.scope_cost
        end as idle_gpu_share
    from costed
    left join scope_costs
        on
            costed.cluster_name = scope_costs.cluster_name
            and costed.hour_started_at = scope_costs.hour_started_at
            and costed.idle_scope is not distinct from scope_costs.idle_scope
    left join scope_idle
        on
            costed.cluster_name = scope_idle.cluster_name
            and costed.hour_started_at = scope_idle.hour_started_at
            and costed.idle_scope is not distinct from scope_idle.idle_scope

),

-- Rows of idle `separate` have no scope_idle: they receive nothing.
idle_received as (

    select
        *,
        coalesce(idle_cpu_share, 0)
        + coalesce(idle_ram_share, 0)
        + coalesce(idle_gpu_share, 0) as idle_cost
    from idle_shares

),

-- Nodes whose idle cost stays on an __idle__ row: all of them when idle is separate,
-- else those of a scope with nothing allocated to share it with.
idle_rows as (

    select node_idle.*
    from node_idle
    left join scope_costs
        on
            node_idle.cluster_name = scope_costs.cluster_name
            and node_idle.hour_started_at = scope_costs.hour_started_at
            and node_idle.idle_scope is not distinct from scope_costs.idle_scope
    where node_idle.idle_policy = 'separate' or coalesce(scope_costs.scope_cost, 0) <= 0

),

workloads as (

    select
        cluster_name,
        hour_started_at,
        namespace,
        controller_kind,
        controller_name,
        bool_or(is_shared) as is_shared,
        min(idle_policy) as idle_policy,
        min(share_policy) as share_policy,
        min(region_id) as region_id,
        sum(pod_count) as pod_count,
        sum(container_count) as container_count,
        sum(containers_without_usage) as containers_without_usage,
        sum(cpu_request_cores) as cpu_request_cores,
        sum(cpu_usage_cores) as cpu_usage_cores,
        sum(cpu_cores) as cpu_cores,
        sum(memory_request_bytes) as memory_request_bytes,
        sum(memory_usage_bytes) as memory_usage_bytes,
        sum(ram_bytes) as ram_bytes,
        sum(gpus) as gpus,
        sum(cpu_cost) as cpu_cost,
        sum(ram_cost) as ram_cost,
        sum(gpu_cost) as gpu_cost,
        sum(allocated_cost) as allocated_cost,
        sum(idle_cost) as idle_cost,
        (array_agg(pod_labels order by node_name))[1] as pod_labels,
        (array_agg(namespace_labels order by node_name))[1] as namespace_labels
    from idle_received
    group by cluster_name, hour_started_at, namespace, controller_kind, controller_name

),

shared_pools as (

    select
        *,
        sum(allocated_cost + idle_cost) filter (where is_shared) over cluster_hour
            as shared_pool,
        count(*) filter (where not is_shared) over cluster_hour as receivers,
        sum(allocated_cost + idle_cost) filter (where not is_shared) over cluster_hour
            as receivers_cost
    from workloads
    window cluster_hour as (partition by cluster_name, hour_started_at)

),

distributed as (

    select
        *,
        case
            when is_shared
                then case when receivers > 0 then -(allocated_cost + idle_cost) else 0 end
            when coalesce(shared_pool, 0) = 0 then 0
            when share_policy = 'weighted' and receivers_cost > 0
                then shared_pool * (allocated_cost + idle_cost) / receivers_cost
            else shared_pool / receivers
        end as shared_cost
    from shared_pools

),

allocations as (

    select
        md5(concat_ws(
            '|',
            cluster_name,
            extract(epoch from hour_started_at)::bigint,
            namespace,
            coalesce(controller_kind, ''),
            controller_name
        )) as allocation_id,
        cluster_name,
        hour_started_at,
        case when is_shared then 'shared' else 'workload' end as allocation_kind,
        namespace,
        controller_kind,
        controller_name,
        null::text as node_name,
        region_id,
        null::text as availability_zone,
        idle_policy,
        share_policy,
        pod_count,
        container_count,
        case
            when containers_without_usage = 0 then 'measured'
            when containers_without_usage = container_count then 'requests_only'
            else 'partial'
        end as usage_coverage,
        cpu_request_cores,
        case when containers_without_usage = 0 then cpu_usage_cores end as cpu_usage_cores,
        cpu_cores as cpu_core_hours,
        memory_request_bytes,
        case
            when containers_without_usage = 0 then memory_usage_bytes
        end as memory_usage_bytes,
        ram_bytes / 1073741824 as ram_gib_hours,
        gpus as gpu_hours,
        cpu_cost,
        ram_cost,
        gpu_cost,
        allocated_cost,
        idle_cost,
        shared_cost,
        allocated_cost + idle_cost + shared_cost as total_cost,
        pod_labels,
        namespace_labels
    from distributed

    union all

    select
        md5(concat_ws(
            '|',
            cluster_name,
            extract(epoch from hour_started_at)::bigint,
            '__idle__',
            node_name
        )) as allocation_id,
        cluster_name,
        hour_started_at,
        'idle' as allocation_kind,
        '__idle__' as namespace,
        null as controller_kind,
        '__idle__' as controller_name,
        node_name,
        region_id,
        availability_zone,
        idle_policy,
        null as share_policy,
        0 as pod_count,
        0 as container_count,
        null as usage_coverage,
        0 as cpu_request_cores,
        null as cpu_usage_cores,
        0 as cpu_core_hours,
        0 as memory_request_bytes,
        null as memory_usage_bytes,
        0 as ram_gib_hours,
        0 as gpu_hours,
        0 as cpu_cost,
        0 as ram_cost,
        0 as gpu_cost,
        0 as allocated_cost,
        idle_cpu_cost + idle_ram_cost + idle_gpu_cost as idle_cost,
        0 as shared_cost,
        idle_cpu_cost + idle_ram_cost + idle_gpu_cost as total_cost,
        '{}'::jsonb as pod_labels,
        '{}'::jsonb as namespace_labels
    from idle_rows

),

-- Trailing zeros trimmed (2.0000000000000000 is 2): the arithmetic above leaves each
-- amount with the scale of its longest operand.
final as (

    select
        allocation_id,
        cluster_name,
        hour_started_at,
        allocation_kind,
        namespace,
        controller_kind,
        controller_name,
        node_name,
        region_id,
        availability_zone,
        idle_policy,
        share_policy,
        pod_count,
        container_count,
        usage_coverage,
        trim_scale(cpu_request_cores) as cpu_request_cores,
        trim_scale(cpu_usage_cores) as cpu_usage_cores,
        trim_scale(cpu_core_hours) as cpu_core_hours,
        trim_scale(memory_request_bytes) as memory_request_bytes,
        trim_scale(memory_usage_bytes) as memory_usage_bytes,
        trim_scale(ram_gib_hours) as ram_gib_hours,
        trim_scale(gpu_hours) as gpu_hours,
        trim_scale(cpu_cost) as cpu_cost,
        trim_scale(ram_cost) as ram_cost,
        trim_scale(gpu_cost) as gpu_cost,
        trim_scale(allocated_cost) as allocated_cost,
        trim_scale(idle_cost) as idle_cost,
        trim_scale(shared_cost) as shared_cost,
        trim_scale(total_cost) as total_cost,
        pod_labels,
        namespace_labels
    from allocations

)

select * from final
