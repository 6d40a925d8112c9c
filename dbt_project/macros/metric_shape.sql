{#-
    Building blocks shared by the int_metrics__<source> models and fct_metrics.
-#}


{#-
    The key of one observation: md5 of source system, natural key and metric type. A
    record yields one row per metric type, so the three together are unique; hashing keeps
    the key short and of one width whatever the natural key looks like.
-#}
{% macro metric_id(source_system, natural_key, metric_type) -%}
    md5(concat_ws('|', {{ source_system }}, {{ natural_key }}, {{ metric_type }}))
{%- endmacro %}


{#-
    The columns of the universal metric shape, in order. Every int_metrics__<source> model
    selects exactly these, and fct_metrics unions them by this list, so a model that
    drifts from the shape fails at build time rather than shifting values between columns.
-#}
{% macro metric_columns() -%}
    {{ return([
        'metric_id',
        'observed_at',
        'source_system',
        'metric_type',
        'value',
        'unit',
        'tags',
        'department',
        'team',
        'user_email',
        'project',
        'customer',
        'feature',
        'cost_category',
        'environment',
        'service',
        'region',
    ]) }}
{%- endmacro %}


{#-
    One end of the run window (vars min_date and max_date) as a timestamptz literal. A
    time with an explicit offset or "Z" keeps it; a bare date, or a time without an
    offset, is taken as UTC, so the window never depends on the session's time zone.
-#}
{% macro window_bound(var_name) -%}
    {%- set value = var(var_name) | string | trim | replace("'", "''") -%}
    {%- set time_part = value[10:] -%}
    {%- set has_offset = time_part[:1] in ['T', 't', ' '] and (
        time_part[-1:] in ['Z', 'z'] or '+' in time_part or '-' in time_part
    ) -%}
    {%- if has_offset -%}
        '{{ value }}'::timestamptz
    {%- else -%}
        ('{{ value }}'::timestamp at time zone 'UTC')
    {%- endif -%}
{%- endmacro %}


{#- A predicate: the column lies in the run window [min_date, max_date). -#}
{% macro in_run_window(column) -%}
    (
        {{ column }} >= {{ window_bound('min_date') }}
        and {{ column }} < {{ window_bound('max_date') }}
    )
{%- endmacro %}
