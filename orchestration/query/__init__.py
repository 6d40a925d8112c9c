"""Reading the vault: PromQL over fct_metrics, served by a Prometheus-compatible HTTP API."""
