{#-
    TimescaleDB when the warehouse has it, plain PostgreSQL otherwise, decided at run time
    from pg_extension: nobody sets a flag.

    With the extension, fct_metrics and fct_costs become hypertables chunked by their time
    column, compressed once their chunks are older than the nightly window can reach, and
    (only when var fact_retention_days is set) their old chunks are dropped. Without it
    these macros render nothing and the models stay ordinary tables with their indexes.

    Each step is its own macro rendering one idempotent statement, so the SQL sent to a
    TimescaleDB server can be read here step by step. The API is TimescaleDB 2.13 or later
    (create_hypertable with by_range); compression uses the 2.x names
    (timescaledb.compress, add_compression_policy), which 2.18+ keeps beside the
    columnstore names.
-#}

{#- True when the timescaledb extension is installed in the warehouse; false while parsing. -#}
{% macro vault_has_timescaledb() %}
    {%- if not execute -%}
        {{ return(false) }}
    {%- endif -%}
    {%- set found = run_query(
        "select exists (select from pg_extension where extname = 'timescaledb')"
    ) -%}
    {{ return(found.columns[0].values()[0]) }}
{% endmacro %}

{#- The start of the UTC day holding `column` (a timestamptz), as a timestamptz.
    time_bucket on TimescaleDB (a continuous aggregate must group by it), date_trunc in
    UTC otherwise: the two give the same instant, midnight UTC, whatever the session's
    time zone. -#}
{% macro daily_bucket(column, timescale) -%}
    {%- if timescale -%}
        time_bucket(interval '1 day', {{ column }})
    {%- else -%}
        (date_trunc('day', {{ column }} at time zone 'UTC') at time zone 'UTC')
    {%- endif -%}
{%- endmacro %}

{#- A whole number of days from var `name`, or none when it is unset; a clear error for
    anything else. -#}
{% macro vault_days_var(name, minimum) %}
    {%- set value = var(name, none) -%}
    {%- if value is none or value == '' -%}
        {{ return(none) }}
    {%- endif -%}
    {%- if value is not number and not (value is string and value.isdigit()) -%}
        {{ exceptions.raise_compiler_error(
            "var " ~ name ~ " must be a whole number of days, got " ~ value
        ) }}
    {%- endif -%}
    {%- set days = value | int -%}
    {%- if days < minimum -%}
        {{ exceptions.raise_compiler_error(
            "var " ~ name ~ " must be at least " ~ minimum ~ " days, got " ~ days
        ) }}
    {%- endif -%}
    {{ return(days) }}
{% endmacro %}

{#- The post-hook of a fact table: every TimescaleDB step, or nothing on plain PostgreSQL.
    id_column is the model's unique key, segment_by a low-cardinality column to compress
    by, chunk_var the var holding the chunk interval. -#}
{% macro timescale_fact_table(time_column, id_column, segment_by, chunk_var) %}
    {%- if not vault_has_timescaledb() -%}
        {{ return('') }}
    {%- endif -%}
    {%- set relation = this.include(database=false) -%}
    {%- set chunk_interval = var(chunk_var) -%}
    {%- set compress_days = vault_days_var('timescale_compress_after_days', 1) -%}
    {%- set retention_days = vault_days_var('fact_retention_days', 3) -%}
    {{ timescale_hypertable_sql(relation, time_column, id_column, chunk_interval) }}
    {{ timescale_compression_sql(relation, time_column, segment_by) }}
    {{ timescale_policy_sql(
        relation, 'policy_compression', 'compress_after', compress_days,
        'add_compression_policy', 'remove_compression_policy'
    ) }}
    {{ timescale_policy_sql(
        relation, 'policy_retention', 'drop_after', retention_days,
        'add_retention_policy', 'remove_retention_policy'
    ) }}
{% endmacro %}

{#- Turn the table into a hypertable if it is not one yet. A hypertable's unique indexes
    must hold its time column, so the unique index on the id alone (the model's `indexes`
    config) becomes one on (id, time); the id stays unique through the model's dbt test.
    migrate_data moves the rows a first build or a --full-refresh has just written. An
    existing hypertable only takes the chunk interval, which applies to new chunks. -#}
{% macro timescale_hypertable_sql(relation, time_column, id_column, chunk_interval) %}
do $hypertable$
declare
    id_only_index regclass;
begin
    if not exists (
        select from timescaledb_information.hypertables
        where hypertable_schema = '{{ relation.schema }}'
            and hypertable_name = '{{ relation.identifier }}'
    ) then
        for id_only_index in
            select index_info.indexrelid::regclass
            from pg_index as index_info
            inner join pg_attribute as time_attribute
                on
                    index_info.indrelid = time_attribute.attrelid
                    and time_attribute.attname = '{{ time_column }}'
            where index_info.indrelid = '{{ relation }}'::regclass
                and index_info.indisunique
                and not time_attribute.attnum = any(index_info.indkey::int2[])
        loop
            execute format('drop index %s', id_only_index);
        end loop;
        create unique index if not exists
            "{{ relation.identifier }}__{{ id_column }}__{{ time_column }}"
            on {{ relation }} ({{ id_column }}, {{ time_column }});
        perform create_hypertable(
            '{{ relation }}'::regclass,
            by_range('{{ time_column }}', interval '{{ chunk_interval }}'),
            create_default_indexes => false,
            migrate_data => true
        );
    else
        perform set_chunk_time_interval(
            '{{ relation }}'::regclass, interval '{{ chunk_interval }}'
        );
    end if;
end
$hypertable$;
{% endmacro %}

{#- Enable compression once: segments by `segment_by`, newest rows first. A table with
    compressed chunks refuses a change of these settings, so they are never altered. -#}
{% macro timescale_compression_sql(relation, time_column, segment_by) %}
do $compression$
begin
    if not (
        select hypertables.compression_enabled
        from timescaledb_information.hypertables as hypertables
        where hypertables.hypertable_schema = '{{ relation.schema }}'
            and hypertables.hypertable_name = '{{ relation.identifier }}'
    ) then
        alter table {{ relation }} set (
            timescaledb.compress,
            timescaledb.compress_segmentby = '{{ segment_by }}',
            timescaledb.compress_orderby = '{{ time_column }} desc'
        );
    end if;
end
$compression$;
{% endmacro %}

{#- Keep one policy (compression or retention) of a hypertable in step with a var:
    added when missing, replaced when its age differs, removed when the var is unset (a
    retention policy never outlives its var). An unchanged policy is left alone, so its
    schedule is not reset by every dbt run. -#}
{% macro timescale_policy_sql(relation, proc_name, age_key, days, add_function,
                              remove_function) %}
do $policy$
declare
    current_age interval;
begin
    select (jobs.config ->> '{{ age_key }}')::interval into current_age
    from timescaledb_information.jobs as jobs
    where jobs.proc_name = '{{ proc_name }}'
        and jobs.hypertable_schema = '{{ relation.schema }}'
        and jobs.hypertable_name = '{{ relation.identifier }}';
    {% if days is none %}
    if found then
        perform {{ remove_function }}('{{ relation }}'::regclass, if_exists => true);
    end if;
    {% else %}
    -- A void function's perform sets found: the second test reads current_age.
    if found and current_age is distinct from interval '{{ days }} days' then
        perform {{ remove_function }}('{{ relation }}'::regclass, if_exists => true);
    end if;
    if not found or current_age is distinct from interval '{{ days }} days' then
        perform {{ add_function }}(
            '{{ relation }}'::regclass, interval '{{ days }} days'
        );
    end if;
    {% endif %}
end
$policy$;
{% endmacro %}

{#- The refresh policy of a continuous aggregate: hourly, up to an hour ago (the
    aggregate is real-time, so newer rows are read from the hypertable). Its window starts
    at the beginning of the data when nothing is dropped: a refresh recomputes only the
    days whose rows changed, so a late backfill reaches the rollup too. With retention it
    starts fact_retention_days ago instead: refreshing a day whose chunks were dropped
    would empty that day of the rollup, and keeping those days is the rollup's purpose.
    The job is also told to run now, so the days this dbt run rewrote are materialised
    within moments rather than within the hour. -#}
{% macro timescale_refresh_policy_sql(relation, retention_days) %}
    {%- set start_offset = "null::interval" if retention_days is none
        else "interval '" ~ retention_days ~ " days'" -%}
do $refresh$
declare
    refresh_job integer;
    current_start text;
begin
    select jobs.job_id, jobs.config ->> 'start_offset' into refresh_job, current_start
    from timescaledb_information.jobs as jobs
    inner join timescaledb_information.continuous_aggregates as aggregates
        on
            jobs.hypertable_schema = aggregates.materialization_hypertable_schema
            and jobs.hypertable_name = aggregates.materialization_hypertable_name
    where jobs.proc_name = 'policy_refresh_continuous_aggregate'
        and aggregates.view_schema = '{{ relation.schema }}'
        and aggregates.view_name = '{{ relation.identifier }}';
    if refresh_job is not null
        and current_start::interval is distinct from {{ start_offset }}
    then
        perform remove_continuous_aggregate_policy('{{ relation }}'::regclass);
        refresh_job := null;
    end if;
    if refresh_job is null then
        select add_continuous_aggregate_policy(
            '{{ relation }}'::regclass,
            start_offset => {{ start_offset }},
            end_offset => interval '1 hour',
            schedule_interval => interval '1 hour'
        ) into refresh_job;
    end if;
    perform alter_job(refresh_job, next_start => now());
end
$refresh$;
{% endmacro %}
