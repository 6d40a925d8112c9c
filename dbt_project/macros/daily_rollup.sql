{#- The SQL of the daily_rollup materialization (materializations/daily_rollup.sql):
    TimescaleDB continuous aggregates, created, inspected and waited for. -#}
{#- What holds the rollup's name now: kind (continuous_aggregate, table, view,
    materialized_view or none), dbt's relation type for it, and the md5 the comment of a
    continuous aggregate built here carries. -#}
{% macro timescale_rollup_existing(relation) %}
    {%- set found = run_query(timescale_rollup_existing_sql(relation)) -%}
    {%- if found.rows | length == 0 -%}
        {{ return({'kind': none, 'relation_type': none, 'definition_hash': none}) }}
    {%- endif -%}
    {%- set row = found.rows[0] -%}
    {%- set relation_type = 'table' if row['kind'] == 'table' else (
        'materialized_view' if row['kind'] == 'materialized_view' else 'view'
    ) -%}
    {{ return({
        'kind': row['kind'],
        'relation_type': relation_type,
        'definition_hash': row['definition_hash'],
    }) }}
{% endmacro %}

{% macro timescale_rollup_existing_sql(relation) %}
select
    case
        when aggregates.view_name is not null then 'continuous_aggregate'
        when classes.relkind in ('r', 'p') then 'table'
        when classes.relkind = 'm' then 'materialized_view'
        else 'view'
    end as kind,
    substring(
        obj_description(classes.oid, 'pg_class') from 'definition ([0-9a-f]{32})'
    ) as definition_hash
from pg_class as classes
inner join pg_namespace as namespaces
    on classes.relnamespace = namespaces.oid
left join timescaledb_information.continuous_aggregates as aggregates
    on
        namespaces.nspname = aggregates.view_schema
        and classes.relname = aggregates.view_name
where
    namespaces.nspname = '{{ relation.schema }}'
    and classes.relname = '{{ relation.identifier }}'
    and classes.relkind in ('r', 'p', 'v', 'm')
{% endmacro %}

{#- Replace whatever holds the name by a continuous aggregate of `query`. WITH NO DATA:
    materialising inside dbt's transaction is not allowed (refresh_continuous_aggregate
    refuses to run in one), and a real-time aggregate answers from the hypertable until
    the refresh policy, told to run at once, has materialised it. -#}
{% macro timescale_rollup_create_sql(relation, query, existing_kind, definition_hash) %}
{%- if existing_kind == 'table' %}
drop table {{ relation }} cascade;
{%- elif existing_kind in ('continuous_aggregate', 'materialized_view') %}
drop materialized view {{ relation }} cascade;
{%- elif existing_kind == 'view' %}
drop view {{ relation }} cascade;
{%- endif %}
create materialized view {{ relation }}
with (timescaledb.continuous, timescaledb.materialized_only = false) as
{{ query }}
with no data;
comment on view {{ relation }} is
    'Daily rollup built by dbt; definition {{ definition_hash }}';
{% endmacro %}

{#- Wait for the refresh job of `relation` to finish a run started after `started_at`,
    polling once a second for at most five minutes (a first refresh of years of history
    may take longer: the rollup is real-time, so it answers correctly meanwhile). A failed
    run is an error; a wait that runs out is a warning. -#}
{% macro timescale_rollup_wait_for_refresh(relation, started_at) %}
    {%- set state = namespace(status='waiting') -%}
    {%- for attempt in range(300) if state.status == 'waiting' -%}
        {%- set polled = run_query(timescale_refresh_status_sql(relation, started_at)) -%}
        {%- set state.status = polled.columns[0].values()[0] if polled.rows | length
            else 'missing' -%}
    {%- endfor -%}
    {%- if state.status == 'failed' -%}
        {{ exceptions.raise_compiler_error(
            "the refresh policy of " ~ relation ~ " failed; see"
            ~ " timescaledb_information.job_errors"
        ) }}
    {%- elif state.status != 'done' -%}
        {{ exceptions.warn(
            "the refresh of " ~ relation ~ " is " ~ state.status ~ " after five minutes;"
            ~ " it keeps running in the background"
        ) }}
    {%- endif -%}
{% endmacro %}

{#- One poll, after a second's pause: done, failed or waiting. -#}
{% macro timescale_refresh_status_sql(relation, started_at) %}
select
    case
        when stats.last_run_started_at is null then 'waiting'
        when stats.last_run_started_at < '{{ started_at }}'::timestamptz then 'waiting'
        when stats.job_status = 'Running' then 'waiting'
        when stats.last_run_status = 'Success' then 'done'
        else 'failed'
    end as status
from (select pg_sleep(1)) as pause
cross join timescaledb_information.job_stats as stats
inner join timescaledb_information.continuous_aggregates as aggregates
    on
        stats.hypertable_schema = aggregates.materialization_hypertable_schema
        and stats.hypertable_name = aggregates.materialization_hypertable_name
inner join timescaledb_information.jobs as jobs
    on stats.job_id = jobs.job_id
where
    jobs.proc_name = 'policy_refresh_continuous_aggregate'
    and aggregates.view_schema = '{{ relation.schema }}'
    and aggregates.view_name = '{{ relation.identifier }}'
{% endmacro %}
