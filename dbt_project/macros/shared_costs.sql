{#-
    Pieces shared by shared_cost_allocations, shared_cost_totals and their tests, so that
    all of them read the target dimensions and a ledger line's target the same way.
-#}


{#-
    The dimensions a shared cost can be handed on to, as a one-column relation
    (target_dimension).
-#}
{% macro shared_cost_dimensions() -%}
    (values ('department'), ('project'), ('customer')) as listed (target_dimension)
{%- endmacro %}


{#-
    A cost_attribution line's own value in the dimension named by `dimension`: its
    department, project or customer.
-#}
{% macro shared_cost_own_target(costs, dimension) -%}
    case {{ dimension }}
        when 'department' then {{ costs }}.department
        when 'project' then {{ costs }}.project
        when 'customer' then {{ costs }}.customer
    end
{%- endmacro %}
