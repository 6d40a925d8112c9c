{#-
    Every cost source model (macros/cost_source_models.sql) in the ledger shape, each
    column cast to its type: the one input of fct_costs, which filters it to the run
    window and attributes it. A view, so the window's predicate reaches each source.
-#}

with

cost_sources as (

    {{ union_cost_sources(is_windowed=false) }}

)

select * from cost_sources
