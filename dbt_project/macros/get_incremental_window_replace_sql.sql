{#-
    Incremental strategy `window_replace`: replace one time window of the target table.

    A model that sets `incremental_strategy='window_replace'` names its time column in the
    `window_column` config and filters its own input to the run window when
    is_incremental(). On an incremental run this strategy then deletes every target row
    whose window column lies in [var('min_date'), var('max_date')) and inserts the new
    batch. dbt runs the returned statements inside the materialisation's transaction, so a
    reader sees either the old window or the new one, never a half-written one.

    Why not delete+insert by unique key: a record that disappeared from the source (a
    corrected report, a reloaded partition) has no row in the new batch, so a key-based
    delete would leave its stale row behind. Replacing the whole window removes it.

    Only batch rows inside the window are inserted: the strategy deleted nothing outside
    it, so a stray row there would duplicate one that is already in the table.
-#}
{% macro get_incremental_window_replace_sql(arg_dict) %}
    {%- set window_column = config.get('window_column') -%}
    {%- if not window_column -%}
        {{ exceptions.raise_compiler_error(
            "incremental_strategy 'window_replace' needs a `window_column` config naming"
            ~ " the time column whose window is replaced (model " ~ this ~ ")"
        ) }}
    {%- endif -%}
    {%- set target_relation = arg_dict['target_relation'] -%}
    {%- set temp_relation = arg_dict['temp_relation'] -%}
    {%- set column_list = get_quoted_csv(arg_dict['dest_columns'] | map(attribute='name')) -%}
    {%- set window_sql = adapter.quote(window_column) -%}

delete from {{ target_relation }}
where {{ in_run_window(window_sql) }};

insert into {{ target_relation }} ({{ column_list }})
select {{ column_list }}
from {{ temp_relation }}
where {{ in_run_window(window_sql) }};
{% endmacro %}
