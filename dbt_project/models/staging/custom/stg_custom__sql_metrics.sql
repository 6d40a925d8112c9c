{#- Observations of the vault.yaml sql entries (raw.custom_sql), typed and deduplicated:
    the query is macros/custom_metrics.sql, shared by the three generic sources. -#}
{{ stg_custom_metrics(source('custom', 'custom_sql')) }}
