{#-
    Narrowing the staging views to the raw partitions a windowed run needs.

    The staging views keep the latest load of every natural key, which means sorting the
    whole raw table; a view cannot read dbt vars, and a filter on a column computed from the
    record cannot be pushed below that dedupe, so without help a one-day run of the fact
    tables would read every raw row ever loaded. Instead, an incremental model's pre-hook
    (set_run_partition_floor) sets the transaction-local setting
    `vault.run_partition_floor` to a partition key, and every staging view keeps only
    the raw rows whose partition_key is not below it (in_run_partitions), using the raw
    table's partition_key index. Unset (a full build, a query from a BI tool), the views
    read every partition.

    The floor is the UTC day of var('min_date') less var('run_partition_margin_days'). Raw
    partition keys are UTC days, or days and hours, so every record of the window lies in a
    partition at or above the window's own day; the margin keeps the days before it too, for
    values built from more than one record (a Claude Code session's messages, an event's
    previous load). Keys with a scope prefix (`name:2026-01-31`) sort above every day and
    are always read. Only a lower bound is set: partitions after the window cost the run a
    little reading, never a wrong answer.
-#}


{#- The predicate for a staging view's raw rows: partition_key at or above the run's floor. -#}
{% macro in_run_partitions(column='partition_key') -%}
    {{ column }} >= coalesce(nullif(current_setting('vault.run_partition_floor', true), ''), '')
{%- endmacro %}


{#-
    A pre-hook for incremental models: on an incremental run, set the floor for the rest of
    the model's transaction; on a full build, clear it, so nothing is left out.
-#}
{% macro set_run_partition_floor() -%}
    {%- if is_incremental() -%}
        {%- set margin = var('run_partition_margin_days', 7) | int -%}
        select set_config(
            'vault.run_partition_floor',
            to_char(
                ({{ window_bound('min_date') }} at time zone 'UTC')::date - {{ margin }},
                'YYYY-MM-DD'
            ),
            true
        )
    {%- else -%}
        select set_config('vault.run_partition_floor', '', true)
    {%- endif -%}
{%- endmacro %}
