{#-
    The int_costs__<source> models that feed fct_costs, one per source system. A new cost
    source adds its model here and tags it `costs_source` (see metric_source_models for why
    the list is written out).
-#}
{% macro cost_source_models() -%}
    {{ return([
        'int_costs__ai_apis',
        'int_costs__aws',
        'int_costs__azure',
        'int_costs__focus',
        'int_costs__gcp',
        'int_costs__kubernetes',
        'int_costs__datadog',
        'int_costs__engineer_time',
    ]) }}
{%- endmacro %}
