-- Every feature SLO target that is set can be met and missed: error rates and SLA
-- targets are shares between 0 and 1, and latencies are above 0; an SLA needs both its
-- latency and its target. A failure names the row and the offending values.

with

feature_slos as (

    select * from {{ ref('feature_slos') }}

)

select
    feature,
    customer,
    max_error_rate,
    p95_latency_ms,
    sla_latency_ms,
    sla_target
from feature_slos
where
    max_error_rate < 0
    or max_error_rate > 1
    or p95_latency_ms <= 0
    or sla_latency_ms <= 0
    or sla_target <= 0
    or sla_target > 1
    or (sla_latency_ms is null) != (sla_target is null)
