{#-
    Unions the metric source models into the universal metric shape, filtered to the run
    window when `is_windowed` is true. Every model tagged `metrics_source` must be in
    metric_source_models() and every model there must carry the tag; otherwise
    compilation stops with a message saying which is missing where.

    The window filter applies to the int models, which sit on staging views that dedupe
    their raw table; on an incremental run fct_metrics' pre-hook narrows those views to
    the window's raw partitions first (macros/run_partitions.sql), so a one-day run reads
    a few days of raw rows, not all of them.
-#}
{% macro union_metric_sources(is_windowed) -%}
    {%- set model_names = metric_source_models() -%}
    {%- if execute -%}
        {%- set tagged = [] -%}
        {%- for node in graph.nodes.values() -%}
            {%- if node.resource_type == 'model' and 'metrics_source' in node.tags -%}
                {%- do tagged.append(node.name) -%}
            {%- endif -%}
        {%- endfor -%}
        {%- set missing = tagged | reject('in', model_names) | list -%}
        {%- set untagged = model_names | reject('in', tagged) | list -%}
        {%- if missing or untagged -%}
            {{ exceptions.raise_compiler_error(
                "metric_source_models() and the models tagged"
                ~ " metrics_source differ. Tagged but not listed: " ~ (missing | sort)
                ~ "; listed but not tagged: " ~ (untagged | sort) ~ "."
            ) }}
        {%- endif -%}
    {%- endif -%}
    {%- set columns = metric_columns() -%}
    {%- for model_name in model_names %}
        {%- if not loop.first %}

        union all
        {% endif %}
        select
            {{ columns | join(',\n            ') }}
        from {{ ref(model_name) }}
        {%- if is_windowed %}
        where {{ in_run_window('observed_at') }}
        {%- endif %}
    {%- endfor %}
{%- endmacro %}
