{#-
    The warehouse has one schema per layer (staging, intermediate, marts, seeds), named
    in dbt_project.yml. dbt's default would prefix each with the target schema
    ("analytics_staging"); here a custom schema is used exactly as written, so BI users
    and grants see the same names in every environment. A node without a custom schema
    falls back to the target's schema.
-#}
{% macro generate_schema_name(custom_schema_name, node) -%}
    {%- if custom_schema_name is none -%}
        {{ target.schema }}
    {%- else -%}
        {{ custom_schema_name | trim }}
    {%- endif -%}
{%- endmacro %}
