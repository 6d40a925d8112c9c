{#-
    One row per container of each pod in each hourly snapshot: where the pod ran, its
    phase and controller, and the container's requests, limits and (where the metrics
    API measured it) usage as numbers: CPU in cores, memory in bytes, GPUs.

    The controller is the pod's owner, except that a ReplicaSet whose name is the
    pod's pod-template-hash label appended to a name stands for that Deployment, as
    Deployments name their ReplicaSets; a pod without an owner belongs to
    '__unallocated__', OpenCost's bucket for a missing key. Init containers hold their
    resources only before the pod runs and are not read.
-#}

with

kubernetes_pods as (

    select * from {{ source('kubernetes', 'kubernetes_pods') }}

),

latest_loads as (

    select distinct on (natural_key)
        natural_key,
        partition_key,
        run_id,
        loaded_at,
        record
    from kubernetes_pods
    where {{ in_run_partitions() }}
    order by natural_key asc, loaded_at desc, load_seq desc

),

-- The lists a record holds, as arrays (empty where the API gave none).
lists as (

    select
        latest_loads.*,
        latest_loads.record -> 'pod' -> 'metadata' as metadata,
        case
            when
                jsonb_typeof(latest_loads.record -> 'pod' -> 'metadata' -> 'ownerReferences')
                = 'array'
                then latest_loads.record -> 'pod' -> 'metadata' -> 'ownerReferences'
            else '[]'::jsonb
        end as owner_references,
        case
            when jsonb_typeof(latest_loads.record -> 'pod' -> 'spec' -> 'containers') = 'array'
                then latest_loads.record -> 'pod' -> 'spec' -> 'containers'
            else '[]'::jsonb
        end as container_specs,
        case
            when jsonb_typeof(latest_loads.record -> 'usage' -> 'containers') = 'array'
                then latest_loads.record -> 'usage' -> 'containers'
            else '[]'::jsonb
        end as container_usages
    from latest_loads

),

pods as (

    select
        lists.*,
        -- The owner that controls the pod, else its first owner.
        (
            select owners.reference
            from
                jsonb_array_elements(lists.owner_references)
                with ordinality as owners (reference, reference_index)
            order by
                coalesce(owners.reference -> 'controller' = 'true'::jsonb, false) desc,
                owners.reference_index asc
            limit 1
        ) as controlling_owner
    from lists

),

controlled as (

    select
        pods.*,
        {{ json_text("pods.controlling_owner -> 'kind'") }} as owner_kind,
        {{ json_text("pods.controlling_owner -> 'name'") }} as owner_name,
        {{ json_text("pods.metadata -> 'labels' -> 'pod-template-hash'") }} as template_hash
    from pods

),

containers as (

    select
        controlled.*,
        container.spec as container,
        container.container_index,
        (
            select measured.metrics
            from
                jsonb_array_elements(controlled.container_usages)
                with ordinality as measured (metrics, metrics_index)
            where measured.metrics -> 'name' = container.spec -> 'name'
            order by measured.metrics_index asc
            limit 1
        ) as container_metrics
    from controlled
    cross join
        lateral jsonb_array_elements(controlled.container_specs)
        with ordinality as container (spec, container_index)

),

final as (

    select
        ---------- ids
        natural_key || '|' || coalesce(container ->> 'name', container_index::text)
            as pod_container_id,
        {{ json_text("record -> 'cluster'") }} as cluster_name,
        {{ json_text("metadata -> 'namespace'") }} as namespace,
        {{ json_text("metadata -> 'name'") }} as pod_name,
        {{ json_text("metadata -> 'uid'") }} as pod_uid,
        {{ json_text("record -> 'pod' -> 'spec' -> 'nodeName'") }} as node_name,
        {{ json_text("container -> 'name'") }} as container_name,

        ---------- strings
        {{ json_text("record -> 'pod' -> 'status' -> 'phase'") }} as phase,
        {{ json_text("record -> 'pod' -> 'status' -> 'qosClass'") }} as qos_class,
        owner_kind,
        owner_name,
        case
            when owner_kind is null then null
            when
                owner_kind = 'ReplicaSet'
                and template_hash is not null
                and right(owner_name, length(template_hash) + 1) = '-' || template_hash
                then 'Deployment'
            else owner_kind
        end as controller_kind,
        case
            when owner_kind is null then '__unallocated__'
            when
                owner_kind = 'ReplicaSet'
                and template_hash is not null
                and right(owner_name, length(template_hash) + 1) = '-' || template_hash
                then left(owner_name, length(owner_name) - length(template_hash) - 1)
            else owner_name
        end as controller_name,
        {{ json_text("record -> 'usage_source'") }} as usage_source,
        {{ json_text("record -> 'usage_note'") }} as usage_note,
        partition_key,
        run_id,

        ---------- numerics
        {{ k8s_quantity("container -> 'resources' -> 'requests' -> 'cpu'") }}
            as cpu_request_cores,
        {{ k8s_quantity("container -> 'resources' -> 'limits' -> 'cpu'") }} as cpu_limit_cores,
        {{ k8s_quantity("container -> 'resources' -> 'requests' -> 'memory'") }}
            as memory_request_bytes,
        {{ k8s_quantity("container -> 'resources' -> 'limits' -> 'memory'") }}
            as memory_limit_bytes,
        {{ k8s_quantity("container -> 'resources' -> 'requests' -> 'nvidia.com/gpu'") }}
            as gpu_request,
        {{ k8s_quantity("container -> 'resources' -> 'limits' -> 'nvidia.com/gpu'") }}
            as gpu_limit,
        {{ k8s_quantity("container_metrics -> 'usage' -> 'cpu'") }} as cpu_usage_cores,
        {{ k8s_quantity("container_metrics -> 'usage' -> 'memory'") }} as memory_usage_bytes,

        ---------- jsonb
        coalesce(metadata -> 'labels', '{}'::jsonb) as pod_labels,
        coalesce(record -> 'namespace_labels', '{}'::jsonb) as namespace_labels,

        ---------- timestamps
        {{ safe_timestamptz("record ->> 'hour'") }} as hour_started_at,
        {{ safe_timestamptz("record ->> 'snapshot_at'") }} as snapshot_at,
        {{ safe_timestamptz("record -> 'usage' ->> 'timestamp'") }} as usage_measured_at,
        loaded_at

    from containers

)

select * from final
