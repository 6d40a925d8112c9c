{{
    config(
        materialized='incremental',
        incremental_strategy='window_replace',
        window_column='observed_at',
        on_schema_change='fail',
        pre_hook="{{ set_run_partition_floor() }}",
        indexes=[
            {'columns': ['metric_id'], 'unique': true},
            {'columns': ['observed_at']},
            {'columns': ['metric_type', 'observed_at']},
        ],
        post_hook="{{ timescale_fact_table(
            'observed_at', 'metric_id', 'metric_type',
            'timescale_metrics_chunk_interval'
        ) }}",
    )
}}

{#- The inputs are the models listed in macros/metric_source_models.sql. -#}

with

metric_sources as (

    {{ union_metric_sources(is_windowed=is_incremental()) }}

),

final as (

    select * from metric_sources

)

select * from final
