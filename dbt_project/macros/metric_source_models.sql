{#-
    The int_metrics__<source> models that feed fct_metrics, one per source system. A new
    source adds its model here and tags it `metrics_source`.

    The list is written out rather than discovered from the graph: dbt records a model's
    dependencies while parsing, before `graph` is populated, so refs found by walking
    graph.nodes would not order fct_metrics after its inputs. union_metric_sources checks
    the list against the tags instead.
-#}
{% macro metric_source_models() -%}
    {{ return([
        'int_metrics__anthropic',
        'int_metrics__claude_code',
        'int_metrics__openai',
        'int_metrics__product_usage',
        'int_metrics__claude_code_analytics',
        'int_metrics__prometheus',
        'int_metrics__datadog',
        'int_metrics__custom',
        'int_metrics__kubernetes',
        'int_metrics__stripe',
        'int_metrics__mixpanel',
        'int_metrics__github',
    ]) }}
{%- endmacro %}
