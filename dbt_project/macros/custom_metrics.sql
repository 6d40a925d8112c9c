{#-
    The staging query shared by the three raw tables of the vault.yaml-only sources
    (custom_http, custom_sql, custom_logs). Their collectors store every record already
    in the metric shape (orchestration/custom/mapping.py): entry, source_system,
    observed_at, metric, value, unit, tags, taxonomy, key, origin and the source's own
    record. This types those fields and keeps the latest load of each natural key
    (entry|metric|key), as every staging model does.
-#}
{% macro stg_custom_metrics(raw_relation) -%}
with

raw_rows as (

    select * from {{ raw_relation }}

),

latest_loads as (

    select distinct on (natural_key)
        natural_key,
        partition_key,
        run_id,
        loaded_at,
        record
    from raw_rows
    order by natural_key asc, loaded_at desc, load_seq desc

),

final as (

    select
        ---------- ids
        natural_key as observation_id,
        {{ json_text("record -> 'entry'") }} as entry,
        {{ json_text("record -> 'key'") }} as record_key,

        ---------- strings
        {{ json_text("record -> 'source_system'") }} as source_system,
        {{ json_text("record -> 'metric'") }} as metric_type,
        {{ json_text("record -> 'unit'") }} as unit,
        {{ json_text("record -> 'taxonomy' -> 'department'") }} as department,
        {{ json_text("record -> 'taxonomy' -> 'team'") }} as team,
        {{ json_text("record -> 'taxonomy' -> 'user_email'") }} as user_email,
        {{ json_text("record -> 'taxonomy' -> 'project'") }} as project,
        {{ json_text("record -> 'taxonomy' -> 'customer'") }} as customer,
        {{ json_text("record -> 'taxonomy' -> 'feature'") }} as feature,
        {{ json_text("record -> 'taxonomy' -> 'cost_category'") }} as cost_category,
        {{ json_text("record -> 'taxonomy' -> 'environment'") }} as environment,
        {{ json_text("record -> 'taxonomy' -> 'service'") }} as service,
        {{ json_text("record -> 'taxonomy' -> 'region'") }} as region,
        partition_key,
        run_id,

        ---------- numerics
        {{ safe_numeric("record -> 'value'") }} as value,

        ---------- json
        case
            when jsonb_typeof(record -> 'tags') = 'object' then record -> 'tags'
            else '{}'::jsonb
        end as tags,
        record -> 'origin' as origin,
        record -> 'source' as source_record,

        ---------- timestamps
        {{ safe_timestamptz("record ->> 'observed_at'") }} as observed_at,
        loaded_at

    from latest_loads

)

select * from final
{%- endmacro %}
