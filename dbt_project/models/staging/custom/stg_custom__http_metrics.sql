{#- Observations of the vault.yaml http_api entries (raw.custom_http), typed and deduplicated:
    the query is macros/custom_metrics.sql, shared by the three generic sources. -#}
{{ stg_custom_metrics(source('custom', 'custom_http')) }}
