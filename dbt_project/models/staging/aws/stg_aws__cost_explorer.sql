{#-
    Cost Explorer groups, typed. Each key of a group is read by the group definition at
    its position (keys and group_definitions are parallel arrays), so a partition loaded
    with other group-bys than its neighbours is still read right.
-#}

{%- set metrics = [
    ('UnblendedCost', 'unblended_cost'),
    ('NetUnblendedCost', 'net_unblended_cost'),
    ('AmortizedCost', 'amortized_cost'),
    ('NetAmortizedCost', 'net_amortized_cost'),
    ('BlendedCost', 'blended_cost'),
    ('UsageQuantity', 'usage_quantity'),
] -%}

{%- set dimensions = [
    ('SERVICE', 'service_name'),
    ('LINKED_ACCOUNT', 'linked_account_id'),
    ('REGION', 'region_id'),
    ('AZ', 'availability_zone'),
    ('USAGE_TYPE', 'usage_type'),
    ('RECORD_TYPE', 'record_type'),
    ('INSTANCE_TYPE', 'instance_type'),
    ('OPERATION', 'operation'),
    ('PURCHASE_TYPE', 'purchase_type'),
] -%}

with

aws_cost_explorer as (

    select * from {{ source('aws', 'aws_cost_explorer') }}

),

latest_loads as (

    select distinct on (natural_key)
        natural_key,
        partition_key,
        run_id,
        loaded_at,
        record
    from aws_cost_explorer
    where {{ in_run_partitions() }}
    order by natural_key asc, loaded_at desc, load_seq desc

),

attribute_entries as (

    -- DimensionValueAttributes: a linked account's name is its description.
    select
        latest_loads.natural_key,
        entries.entry ->> 'Value' as key_value,
        max(entries.entry -> 'Attributes' ->> 'description') as key_description
    from latest_loads
    cross join
        lateral jsonb_array_elements(
            case
                when jsonb_typeof(latest_loads.record -> 'dimension_value_attributes') = 'array'
                    then latest_loads.record -> 'dimension_value_attributes'
                else '[]'::jsonb
            end
        ) as entries (entry)
    group by latest_loads.natural_key, entries.entry ->> 'Value'

),

group_keys as (

    -- One row per record and group definition, with the key Cost Explorer gave for it.
    select
        latest_loads.natural_key,
        definitions.definition ->> 'Type' as group_type,
        definitions.definition ->> 'Key' as group_key,
        latest_loads.record -> 'keys' ->> (definitions.position - 1)::int as key_value
    from latest_loads
    cross join lateral jsonb_array_elements(
        case
            when jsonb_typeof(latest_loads.record -> 'group_definitions') = 'array'
                then latest_loads.record -> 'group_definitions'
            else '[]'::jsonb
        end
    ) with ordinality as definitions (definition, position)

),

described_keys as (

    select
        group_keys.*,
        attribute_entries.key_description,
        -- TAG and COST_CATEGORY keys are "key$value": the value, '' for none.
        substr(group_keys.key_value, strpos(group_keys.key_value, '$') + 1) as key_suffix
    from group_keys
    left join attribute_entries
        on
            group_keys.natural_key = attribute_entries.natural_key
            and group_keys.key_value = attribute_entries.key_value

),

grouped as (

    select
        natural_key,
        {%- for key, column in dimensions %}
            max(key_value) filter (
                where group_type = 'DIMENSION' and group_key = '{{ key }}'
            ) as {{ column }},
        {%- endfor %}
        max(nullif(key_description, '')) filter (
            where group_type = 'DIMENSION' and group_key = 'LINKED_ACCOUNT'
        ) as linked_account_name,
        -- "team$" is a charge without the tag: it has no team tag, not an empty one.
        coalesce(
            jsonb_object_agg(group_key, key_suffix) filter (
                where group_type = 'TAG' and key_suffix != ''
            ),
            '{}'::jsonb
        ) as tags,
        max(group_key) filter (where group_type = 'COST_CATEGORY') as cost_category_name,
        max(nullif(key_suffix, '')) filter (
            where group_type = 'COST_CATEGORY'
        ) as cost_category_value,
        bool_or(group_type = 'DIMENSION' and group_key = 'SERVICE') as is_grouped_by_service,
        bool_or(
            group_type = 'DIMENSION' and group_key = 'USAGE_TYPE'
        ) as is_grouped_by_usage_type
    from described_keys
    group by natural_key

),

final as (

    select
        ---------- ids
        latest_loads.natural_key as cost_line_id,
        {{ json_text("latest_loads.record -> 'billing_account_id'") }} as billing_account_id,
        grouped.linked_account_id,

        ---------- strings
        coalesce(
            {{ json_text("latest_loads.record -> 'billing_account_name'") }},
            {{ json_text("latest_loads.record -> 'billing_account_id'") }}
        ) as billing_account_name,
        coalesce(
            {{ json_text("latest_loads.record -> 'billed_cost_metric'") }}, 'UnblendedCost'
        ) as billed_cost_metric,
        {%- for key, column in dimensions if column != 'linked_account_id' %}
            grouped.{{ column }},
        {%- endfor %}
        grouped.linked_account_name,
        grouped.cost_category_name,
        grouped.cost_category_value,
        {%- for metric, column in metrics %}
            {{ json_text("latest_loads.record -> 'metrics' -> '" ~ metric ~ "' -> 'Unit'") }}
                as {{ column }}_unit,
        {%- endfor %}
        latest_loads.partition_key,
        latest_loads.run_id,

        ---------- numerics
        -- Cost Explorer's amounts are decimal strings: cast to numeric, never through float.
        {%- for metric, column in metrics %}
            {{ safe_numeric("latest_loads.record -> 'metrics' -> '" ~ metric ~ "' -> 'Amount'") }}
                as {{ column }},
        {%- endfor %}

        ---------- booleans
        {{ safe_boolean("latest_loads.record -> 'estimated'") }} as is_estimated,
        coalesce(grouped.is_grouped_by_service, false) as is_grouped_by_service,
        coalesce(grouped.is_grouped_by_usage_type, false) as is_grouped_by_usage_type,

        ---------- jsonb
        coalesce(grouped.tags, '{}'::jsonb) as tags,
        latest_loads.record -> 'group_definitions' as group_definitions,
        latest_loads.record -> 'keys' as group_keys,

        ---------- timestamps
        coalesce(
            {{ safe_timestamptz(json_text("latest_loads.record -> 'time_period' -> 'Start'")) }},
            {{ safe_timestamptz('latest_loads.partition_key') }}
        ) as usage_started_at,
        {{ safe_timestamptz(json_text("latest_loads.record -> 'time_period' -> 'End'")) }}
            as usage_ended_at,
        latest_loads.loaded_at

    from latest_loads
    left join grouped
        on latest_loads.natural_key = grouped.natural_key

)

select * from final
