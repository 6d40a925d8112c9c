{#-
    Unions the cost source models into the ledger shape, each column cast to its type,
    filtered to the run window on charge_period_start when `is_windowed` is true. Like
    union_metric_sources, it checks that cost_source_models() and the models tagged
    `costs_source` agree.
-#}
{% macro union_cost_sources(is_windowed) -%}
    {%- set model_names = cost_source_models() -%}
    {%- if execute -%}
        {%- set tagged = [] -%}
        {%- for node in graph.nodes.values() -%}
            {%- if node.resource_type == 'model' and 'costs_source' in node.tags -%}
                {%- do tagged.append(node.name) -%}
            {%- endif -%}
        {%- endfor -%}
        {%- set missing = tagged | reject('in', model_names) | list -%}
        {%- set untagged = model_names | reject('in', tagged) | list -%}
        {%- if missing or untagged -%}
            {{ exceptions.raise_compiler_error(
                "cost_source_models() and the models tagged"
                ~ " costs_source differ. Tagged but not listed: " ~ (missing | sort)
                ~ "; listed but not tagged: " ~ (untagged | sort) ~ "."
            ) }}
        {%- endif -%}
    {%- endif -%}
    {%- set casts = [] -%}
    {%- for name, type in cost_column_types() -%}
        {%- do casts.append('cast(' ~ name ~ ' as ' ~ type ~ ') as ' ~ name) -%}
    {%- endfor -%}
    {%- for model_name in model_names %}
        {%- if not loop.first %}

        union all
        {% endif %}
        select
            {{ casts | join(',\n            ') }}
        from {{ ref(model_name) }}
        {%- if is_windowed %}
        where {{ in_run_window('charge_period_start') }}
        {%- endif %}
    {%- endfor %}
{%- endmacro %}
