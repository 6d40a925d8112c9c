{#-
    One row per node and hourly snapshot: its capacity and allocatable resources as
    numbers (cores, bytes, GPUs), where it runs, and the hourly rates the collector
    resolved from vault.yaml, with the allocation policy in force when it was collected.
    node_cost is what the node's whole capacity costs for the hour at those rates: the
    amount its allocation must add up to.
-#}

with

kubernetes_nodes as (

    select * from {{ source('kubernetes', 'kubernetes_nodes') }}

),

latest_loads as (

    select distinct on (natural_key)
        natural_key,
        partition_key,
        run_id,
        loaded_at,
        record
    from kubernetes_nodes
    where {{ in_run_partitions() }}
    order by natural_key asc, loaded_at desc, load_seq desc

),

parsed as (

    select
        natural_key,
        partition_key,
        run_id,
        loaded_at,
        record -> 'node' -> 'metadata' as metadata,
        record -> 'node' -> 'metadata' -> 'labels' as labels,
        record -> 'node' -> 'status' -> 'capacity' as capacity,
        record -> 'node' -> 'status' -> 'allocatable' as allocatable,
        record -> 'price' as price,
        record -> 'allocation' as allocation,
        record
    from latest_loads

),

final as (

    select
        ---------- ids
        natural_key as node_snapshot_id,
        {{ json_text("record -> 'cluster'") }} as cluster_name,
        {{ json_text("metadata -> 'name'") }} as node_name,
        {{ json_text("metadata -> 'uid'") }} as node_uid,
        {{ json_text("record -> 'node' -> 'spec' -> 'providerID'") }} as provider_id,

        ---------- strings
        coalesce(
            {{ json_text("labels -> 'node.kubernetes.io/instance-type'") }},
            {{ json_text("labels -> 'beta.kubernetes.io/instance-type'") }}
        ) as instance_type,
        coalesce(
            {{ json_text("labels -> 'topology.kubernetes.io/region'") }},
            {{ json_text("labels -> 'failure-domain.beta.kubernetes.io/region'") }}
        ) as region_id,
        coalesce(
            {{ json_text("labels -> 'topology.kubernetes.io/zone'") }},
            {{ json_text("labels -> 'failure-domain.beta.kubernetes.io/zone'") }}
        ) as availability_zone,
        {{ json_text("price -> 'source'") }} as price_source,
        {{ json_text("allocation -> 'idle'") }} as idle_policy,
        {{ json_text("allocation -> 'share'") }} as share_policy,
        partition_key,
        run_id,

        ---------- numerics
        {{ k8s_quantity("capacity -> 'cpu'") }} as capacity_cpu_cores,
        {{ k8s_quantity("capacity -> 'memory'") }} as capacity_memory_bytes,
        coalesce({{ k8s_quantity("capacity -> 'nvidia.com/gpu'") }}, 0) as capacity_gpus,
        {{ k8s_quantity("allocatable -> 'cpu'") }} as allocatable_cpu_cores,
        {{ k8s_quantity("allocatable -> 'memory'") }} as allocatable_memory_bytes,
        coalesce({{ k8s_quantity("allocatable -> 'nvidia.com/gpu'") }}, 0) as allocatable_gpus,
        {{ safe_numeric("price -> 'node_hourly_usd'") }} as node_hourly_usd,
        {{ safe_numeric("price -> 'cpu_core_hourly_usd'") }} as cpu_core_hourly_usd,
        {{ safe_numeric("price -> 'ram_gib_hourly_usd'") }} as ram_gib_hourly_usd,
        {{ safe_numeric("price -> 'gpu_hourly_usd'") }} as gpu_hourly_usd,

        ---------- jsonb
        labels as node_labels,
        case
            when jsonb_typeof(allocation -> 'shared_namespaces') = 'array'
                then allocation -> 'shared_namespaces'
            else '[]'::jsonb
        end as shared_namespaces,

        ---------- timestamps
        {{ safe_timestamptz("record ->> 'hour'") }} as hour_started_at,
        {{ safe_timestamptz("record ->> 'snapshot_at'") }} as snapshot_at,
        loaded_at

    from parsed

),

costed as (

    select
        *,
        -- What the node's whole capacity costs for the hour: the sum its allocated,
        -- idle and shared cost must come to.
        capacity_cpu_cores * cpu_core_hourly_usd
        + capacity_memory_bytes * ram_gib_hourly_usd / 1073741824
        + capacity_gpus * gpu_hourly_usd as node_cost
    from final

)

select * from costed
