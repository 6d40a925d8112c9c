{#-
    Materialization `daily_rollup`: a daily rollup of a fact table that is a TimescaleDB
    continuous aggregate where the extension is installed and an ordinary table elsewhere,
    decided at run time (macros/timescale.sql), so `dbt build` needs no flag.

    Plain PostgreSQL: dbt's own table materialization, rebuilt from the facts every run.

    TimescaleDB: a real-time continuous aggregate (materialized_only = false, so rows newer
    than the last refresh are read from the hypertable) with an hourly refresh policy. It
    is created when missing, when a table or view of that name is there instead (the
    extension came after the first build), on --full-refresh, and when the model's query
    has changed since it was created: the query's md5 is kept in the view's comment.
    Otherwise it is left as it is and only its refresh is brought forward: the policy's job
    is told to run now, and the model waits (up to five minutes) for it to finish, so the
    days this run rewrote in the facts are right in the rollup when the build's tests read
    it. A --full-refresh
    of the fact table drops the aggregate with the old hypertable (dbt drops the replaced
    table with cascade); this model, downstream of it, creates it again in the same build.

    A continuous aggregate's query is one select grouped by time_bucket on the hypertable's
    time column, without CTEs: a model using this materialization is written that way.
-#}
{#- In its own macro path: SQLFluff's jinja templater, which loads macros/, has no
    materialization tag. The SQL it sends is in macros/daily_rollup.sql. -#}
{% materialization daily_rollup, adapter='postgres' %}
    {%- if not vault_has_timescaledb() -%}
        {{ return(materialization_table_default()) }}
    {%- endif -%}

    {%- set target_relation = this.incorporate(type='view') -%}
    {%- set definition_hash = local_md5(sql) -%}
    {%- set existing = timescale_rollup_existing(this) -%}
    {%- set rebuild = should_full_refresh()
        or existing.kind != 'continuous_aggregate'
        or existing.definition_hash != definition_hash -%}

    {{ run_hooks(pre_hooks, inside_transaction=False) }}
    {{ run_hooks(pre_hooks, inside_transaction=True) }}

    {%- call statement('main') -%}
        {%- if rebuild -%}
            {{ timescale_rollup_create_sql(this.include(database=false), sql, existing.kind, definition_hash) }}
        {%- else -%}
            select 1
        {%- endif -%}
    {%- endcall -%}
    {%- set started_at = run_query(
        "select clock_timestamp()::text"
    ).columns[0].values()[0] -%}
    {%- call statement('refresh_policy') -%}
        {{ timescale_refresh_policy_sql(
            this.include(database=false), vault_days_var('fact_retention_days', 3)
        ) }}
    {%- endcall -%}

    {{ run_hooks(post_hooks, inside_transaction=True) }}
    {% do adapter.commit() %}
    {% do timescale_rollup_wait_for_refresh(this, started_at) %}
    {{ run_hooks(post_hooks, inside_transaction=False) }}

    {%- if rebuild and existing.kind is not none -%}
        {% do adapter.cache_dropped(this.incorporate(type=existing.relation_type)) %}
    {%- endif -%}
    {% do adapter.cache_added(target_relation) %}
    {{ return({'relations': [target_relation]}) }}
{% endmaterialization %}
