{#- Observations of the vault.yaml log_files entries (raw.custom_logs), typed and
    deduplicated: the query is macros/custom_metrics.sql, shared by the three generic sources. -#}
{{ stg_custom_metrics(source('custom', 'custom_logs')) }}
