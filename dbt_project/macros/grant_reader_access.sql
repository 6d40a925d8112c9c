{#-
    After every dbt run: the read-only role (var reader_role, default vault_reader) may
    read every table and view in the marts schema and nothing else. Tables are rebuilt on
    each run, so the grant is given again each time; default privileges cover tables
    created between runs (the forecast asset's). Nothing happens while the role does not
    exist (`create role vault_reader login password '...'` as the warehouse's owner) or
    before the marts schema does.
-#}
{% macro grant_reader_access() %}
{%- set role = var('reader_role', 'vault_reader') -%}
{%- set schema = generate_schema_name('marts', none) -%}
    do $grant$
    begin
        if exists (select from pg_roles where rolname = '{{ role }}')
            and exists (select from pg_namespace where nspname = '{{ schema }}')
        then
            grant usage on schema {{ adapter.quote(schema) }} to {{ adapter.quote(role) }};
            grant select on all tables in schema {{ adapter.quote(schema) }}
                to {{ adapter.quote(role) }};
            alter default privileges in schema {{ adapter.quote(schema) }}
                grant select on tables to {{ adapter.quote(role) }};
        end if;
    end
    $grant$;
{% endmacro %}
