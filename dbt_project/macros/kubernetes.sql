{#-
    Reading Kubernetes resource quantities, and the dbt vars that override the allocation
    policy the kubernetes collector recorded.
-#}


{#-
    A Kubernetes quantity ("250m", "1.5", "512Mi", "1e9", "123456789n") as an exact
    numeric: the number times its binary suffix (Ki .. Ei, powers of 1024), its decimal
    suffix (n, u, m, k, M, G, T, P, E) or its decimal exponent (e3, E-2). Null for json
    null and for text the API's grammar does not allow, which the staging tests report.
    Exponents are limited to three digits so that no value can overflow the cast.
    Trailing zeros are trimmed: "250m" is 0.25, not 0.250.
-#}
{% macro k8s_quantity(json_value) -%}
    trim_scale((
        select
            case
                when parts is null then null
                when parts[2] is not null
                    then parts[1]::numeric * case parts[2]
                        when 'Ki' then 1024::numeric
                        when 'Mi' then 1048576::numeric
                        when 'Gi' then 1073741824::numeric
                        when 'Ti' then 1099511627776::numeric
                        when 'Pi' then 1125899906842624::numeric
                        when 'Ei' then 1152921504606846976::numeric
                        when 'n' then 0.000000001
                        when 'u' then 0.000001
                        when 'm' then 0.001
                        when 'k' then 1000::numeric
                        when 'M' then 1000000::numeric
                        when 'G' then 1000000000::numeric
                        when 'T' then 1000000000000::numeric
                        when 'P' then 1000000000000000::numeric
                        when 'E' then 1000000000000000000::numeric
                    end
                when parts[3] is not null
                    then parts[1]::numeric * power(10::numeric, parts[3]::int)
                else parts[1]::numeric
            end
        from (
            select
                regexp_match(
                    {{ json_text(json_value) }},
                    '^([+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+))'
                    || '(?:(Ki|Mi|Gi|Ti|Pi|Ei|[numkMGTPE])|[eE]([+-]?[0-9]{1,3}))?$'
                ) as parts
        ) as matched
    ))
{%- endmacro %}


{#-
    The allocation policy a dbt var sets for every snapshot, as a SQL literal, or null
    when the var is unset and each snapshot keeps the policy its collector recorded.
    kubernetes_idle: separate | share_by_node | share_by_cluster; kubernetes_share:
    even | weighted; kubernetes_shared_namespaces: a list of namespaces (a jsonb array).
    A value outside those is refused when the model runs.
-#}
{% macro kubernetes_policy_var(name) -%}
    {%- set allowed = {
        'kubernetes_idle': ['separate', 'share_by_node', 'share_by_cluster'],
        'kubernetes_share': ['even', 'weighted'],
    } -%}
    {%- set value = var(name, none) -%}
    {%- set is_list = value is iterable and value is not string and value is not mapping -%}
    {%- if name == 'kubernetes_shared_namespaces' -%}
        {%- set valid = value is none or is_list -%}
    {%- else -%}
        {%- set valid = value is none or value in allowed[name] -%}
    {%- endif -%}
    {%- if execute and not valid -%}
        {%- set choices = allowed.get(name, ['a list of namespaces']) | join(', ') -%}
        {{- exceptions.raise_compiler_error(
            'var ' ~ name ~ ' must be ' ~ choices ~ ', got ' ~ value
        ) -}}
    {%- endif -%}
    {%- if value is none -%}
        {%- set literal = 'null' -%}
    {%- elif is_list -%}
        {%- set literal = "'" ~ (tojson(value | list) | replace("'", "''")) ~ "'::jsonb" -%}
    {%- else -%}
        {%- set literal = "'" ~ (value | string | replace("'", "''")) ~ "'" -%}
    {%- endif -%}
    {{ literal }}
{%- endmacro %}
