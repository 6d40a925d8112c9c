{{ config(severity='warn') }}

-- Nodes and pods are separate snapshots, taken moments apart: a Running pod on a node the
-- nodes' snapshot of that hour lacks (a node that joined in between, or a nodes collection
-- that failed) is charged nothing that hour, and the node costs nothing either. Totals stay
-- consistent; the workload's hour is missing. A warning lists the hours and nodes affected.

with

containers as (

    select * from {{ ref('stg_kubernetes__pod_containers') }}

),

nodes as (

    select * from {{ ref('stg_kubernetes__nodes') }}

),

final as (

    select
        containers.cluster_name,
        containers.hour_started_at,
        containers.node_name,
        count(distinct containers.pod_name) as running_pods
    from containers
    left join nodes
        on
            containers.cluster_name = nodes.cluster_name
            and containers.hour_started_at = nodes.hour_started_at
            and containers.node_name = nodes.node_name
    where containers.phase = 'Running' and nodes.node_name is null
    group by 1, 2, 3

)

select * from final
