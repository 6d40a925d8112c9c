"""Sources described in vault.yaml alone: JSON HTTP APIs, SQL queries and log files.

Each entry of `sources.http_api.apis`, `sources.sql.queries` and `sources.log_files.sources`
becomes its own collector and asset (`raw/<kind>_<name>`, with its own partitions), while all
entries of a kind share one raw table (`raw.custom_http`, `raw.custom_sql`, `raw.custom_logs`),
so dbt has a fixed set of sources. An entry's rows are kept under its own partition keys
(`<name>:<day>`, the collector's `partition_scope`), so one entry's reload never touches
another's. Every stored record is already an observation in the metric shape, with the source's
own record beside it (`orchestration.custom.mapping`).
"""
