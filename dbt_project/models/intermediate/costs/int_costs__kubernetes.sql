{{ config(tags=['costs_source']) }}

{#-
    The Kubernetes allocation (int_kubernetes__allocations) as ledger lines: one per
    cluster, UTC day and workload (namespace and controller), charged its allocated,
    idle and shared cost over the day's hourly snapshots; one per node and day for idle
    cost left on an __idle__ row; and one for a shared namespace's workload only when
    nobody was there to carry its cost.

    These lines divide what the cluster's nodes cost; the nodes' own cloud bill (EC2,
    Compute Engine, Virtual Machines lines) is in the ledger too. Every line here is
    x_source_system 'kubernetes' and carries the tag x_allocated_from
    'kubernetes_nodes': sum the cloud bills for what was spent, and use these lines,
    never added to the bills, to see who used the cluster's share of it.
-#}

{%- set gib = 1073741824 -%}

with

allocations as (

    select * from {{ ref('int_kubernetes__allocations') }}

),

daily as (

    select
        cluster_name,
        date_trunc('day', hour_started_at at time zone 'UTC') at time zone 'UTC'
            as day_started_at,
        allocation_kind,
        namespace,
        controller_kind,
        controller_name,
        node_name,
        count(distinct hour_started_at) as snapshot_hours,
        min(region_id) as region_id,
        min(availability_zone) as availability_zone,
        sum(cpu_core_hours) as cpu_core_hours,
        sum(ram_gib_hours) as ram_gib_hours,
        sum(gpu_hours) as gpu_hours,
        sum(allocated_cost) as allocated_cost,
        sum(idle_cost) as idle_cost,
        sum(shared_cost) as shared_cost,
        sum(total_cost) as total_cost,
        (array_agg(pod_labels order by hour_started_at desc))[1] as pod_labels,
        (array_agg(namespace_labels order by hour_started_at desc))[1] as namespace_labels
    from allocations
    group by
        cluster_name,
        date_trunc('day', hour_started_at at time zone 'UTC') at time zone 'UTC',
        allocation_kind,
        namespace,
        controller_kind,
        controller_name,
        node_name

),

lines as (

    select
        *,
        -- A label on the pod wins over its namespace's.
        lower(coalesce(pod_labels ->> 'team', namespace_labels ->> 'team')) as team,
        lower(coalesce(pod_labels ->> 'project', namespace_labels ->> 'project')) as project,
        lower(coalesce(
            pod_labels ->> 'department', namespace_labels ->> 'department'
        )) as department,
        lower(coalesce(
            pod_labels ->> 'environment',
            pod_labels ->> 'env',
            namespace_labels ->> 'environment',
            namespace_labels ->> 'env'
        )) as environment
    from daily
    -- A shared workload that handed its whole cost on is not a charge of its own.
    where not (allocation_kind = 'shared' and total_cost = 0)

),

final as (

    select
        ---------- ids
        {{ cost_id(
            "'kubernetes'",
            "concat_ws('|', cluster_name, to_char(day_started_at at time zone 'UTC', "
            ~ "'YYYY-MM-DD'), allocation_kind, namespace, coalesce(controller_kind, ''), "
            ~ "controller_name, coalesce(node_name, ''))"
        ) }} as x_cost_id,
        'kubernetes' as x_source_system,
        cluster_name as billing_account_id,
        cluster_name as sub_account_id,
        null as invoice_id,
        null as sku_id,
        null as sku_price_id,
        null as commitment_discount_id,
        case
            when allocation_kind = 'idle' then '__idle__/' || node_name
            else namespace || '/' || controller_name
        end as resource_id,

        ---------- strings
        cluster_name as billing_account_name,
        'Kubernetes cluster' as billing_account_type,
        'USD' as billing_currency,
        cluster_name as sub_account_name,
        'Kubernetes cluster' as sub_account_type,
        'Kubernetes' as invoice_issuer_name,
        'Kubernetes' as provider_name,
        'Kubernetes' as publisher_name,
        'Usage' as charge_category,
        null as charge_class,
        case allocation_kind
            when 'idle'
                then 'Idle capacity of node ' || node_name || ' in cluster ' || cluster_name
            when 'shared'
                then
                    'Shared namespace ' || namespace || ' in cluster ' || cluster_name
                    || ', with no other workload to carry its cost: ' || controller_name
            else
                'CPU, RAM and GPU of ' || namespace || '/' || controller_name
                || ' in cluster ' || cluster_name || ', with its share of idle and shared cost'
        end as charge_description,
        'Usage-Based' as charge_frequency,
        'Compute' as service_category,
        'Containers' as service_subcategory,
        'Kubernetes' as service_name,
        null as pricing_category,
        null as pricing_unit,
        case when allocation_kind = 'idle' then null else 'core-hours' end as consumed_unit,
        case
            when allocation_kind = 'idle' then 'Idle capacity'
            else 'CPU, RAM and GPU allocation'
        end as sku_meter,
        case
            when allocation_kind = 'idle' then node_name else controller_name
        end as resource_name,
        case
            when allocation_kind = 'idle' then 'Node'
            else coalesce(controller_kind, 'Pod')
        end as resource_type,
        region_id,
        null as region_name,
        availability_zone,
        null as commitment_discount_name,
        null as commitment_discount_type,
        null as commitment_discount_category,
        null as commitment_discount_status,
        department as x_department,
        team as x_team,
        null as x_user_email,
        project as x_project,
        null as x_customer,
        null as x_feature,
        null as x_cost_category,
        environment as x_environment,

        ---------- numerics
        -- The allocation has no list or negotiated price of its own: every cost column is
        -- the allocated cost (the node prices in vault.yaml are the amortised ones).
        total_cost as billed_cost,
        total_cost as effective_cost,
        total_cost as list_cost,
        total_cost as contracted_cost,
        null::numeric as list_unit_price,
        null::numeric as contracted_unit_price,
        null::numeric as pricing_quantity,
        case when allocation_kind = 'idle' then null else cpu_core_hours end
            as consumed_quantity,

        ---------- jsonb
        coalesce(namespace_labels, '{}'::jsonb)
        || coalesce(pod_labels, '{}'::jsonb)
        || jsonb_strip_nulls(jsonb_build_object(
            'x_allocated_from', 'kubernetes_nodes',
            'x_allocation_kind', allocation_kind,
            'x_namespace', nullif(namespace, '__idle__'),
            'x_controller_kind', controller_kind,
            'x_controller', nullif(controller_name, '__idle__'),
            'x_node', node_name,
            'x_allocated_cost', trim_scale(allocated_cost),
            'x_idle_cost', trim_scale(idle_cost),
            'x_shared_cost', trim_scale(shared_cost),
            'x_ram_gib_hours', trim_scale(ram_gib_hours),
            'x_gpu_hours', nullif(trim_scale(gpu_hours), 0),
            'x_snapshot_hours', snapshot_hours
        )) as tags,

        ---------- booleans
        -- The day's later hours may still arrive.
        day_started_at + interval '24 hours' > current_timestamp as x_estimated,

        ---------- timestamps
        -- Month and day arithmetic in UTC: in the session's time zone a day can be 23 hours.
        {{ utc_month_start('day_started_at') }} as billing_period_start,
        (
            date_trunc('month', day_started_at at time zone 'UTC') + interval '1 month'
        ) at time zone 'UTC' as billing_period_end,
        day_started_at as charge_period_start,
        day_started_at + interval '24 hours' as charge_period_end

    from lines

)

select * from final
