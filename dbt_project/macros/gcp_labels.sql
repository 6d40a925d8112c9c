{#-
    A BigQuery export's [{key, value}] label array (labels, system_labels,
    project.labels) as a jsonb object {key: value}: keys as given, a label without a
    value kept with '' (the export's valueless label). Anything that is not an array
    of objects with a key reads as {}; a key given twice keeps one of its values.
-#}
{% macro gcp_key_value_object(json_array) -%}
    coalesce(
        (
            select jsonb_object_agg(label ->> 'key', coalesce(label ->> 'value', ''))
            from jsonb_array_elements(
                case
                    when jsonb_typeof({{ json_array }}) = 'array' then {{ json_array }}
                    else '[]'::jsonb
                end
            ) as label
            where
                jsonb_typeof(label) = 'object'
                and nullif(label ->> 'key', '') is not null
        ),
        '{}'::jsonb
    )
{%- endmacro %}
