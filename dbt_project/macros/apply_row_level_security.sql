{#-
    After every dbt run: give the marts dbt has just rebuilt their row-level security back.
    A rebuilt table is a new table, without the policy that limits a department reader to
    its own department's rows and without the department readers' grant, so until this
    runs they are refused it (never shown every row). The work is done by
    vault_access.apply_row_level_security, which `vault db roles` creates and also calls
    (orchestration/warehouse/roles.py), so both apply the same rules. Nothing happens
    before `vault db roles` has run, or when dbt's role may not call the function.
-#}
{% macro apply_row_level_security() %}
{%- set schema = generate_schema_name('marts', none) -%}
    do $rls$
    begin
        if exists (
            select from pg_proc as routines
            inner join pg_namespace as schemas
                on routines.pronamespace = schemas.oid
            where schemas.nspname = 'vault_access'
                and routines.proname = 'apply_row_level_security'
                and has_schema_privilege(schemas.oid, 'USAGE')
                and has_function_privilege(routines.oid, 'EXECUTE')
        )
            and exists (select from pg_namespace where nspname = '{{ schema }}')
        then
            perform vault_access.apply_row_level_security('{{ schema }}');
        end if;
    end
    $rls$;
{% endmacro %}
