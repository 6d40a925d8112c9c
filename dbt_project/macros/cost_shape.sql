{#-
    The shape of the cost ledger, shared by the int_costs__<source> models and fct_costs.

    Column names are FOCUS 1.2's, in snake case (BilledCost is billed_cost); columns FOCUS
    does not define carry the `x_` prefix it reserves for custom columns. Every
    int_costs__<source> model selects each column below (null where the source has
    nothing to say), and fct_costs unions them casting each to its type here, so a model
    that drifts from the shape fails at build time.

    Taxonomy columns (x_department ... x_environment) are hints: a source that knows the
    answer (an AI request attributed to a project) fills them; fct_costs resolves the rest
    from tags, the mapping seeds and, last, the explicit bucket 'unallocated'.
-#}
{% macro cost_column_types() -%}
    {{ return([
        ('x_cost_id', 'text'),
        ('x_source_system', 'text'),
        ('billing_account_id', 'text'),
        ('billing_account_name', 'text'),
        ('billing_account_type', 'text'),
        ('billing_currency', 'text'),
        ('billing_period_start', 'timestamptz'),
        ('billing_period_end', 'timestamptz'),
        ('sub_account_id', 'text'),
        ('sub_account_name', 'text'),
        ('sub_account_type', 'text'),
        ('invoice_id', 'text'),
        ('invoice_issuer_name', 'text'),
        ('provider_name', 'text'),
        ('publisher_name', 'text'),
        ('charge_category', 'text'),
        ('charge_class', 'text'),
        ('charge_description', 'text'),
        ('charge_frequency', 'text'),
        ('charge_period_start', 'timestamptz'),
        ('charge_period_end', 'timestamptz'),
        ('service_category', 'text'),
        ('service_subcategory', 'text'),
        ('service_name', 'text'),
        ('billed_cost', 'numeric'),
        ('effective_cost', 'numeric'),
        ('list_cost', 'numeric'),
        ('contracted_cost', 'numeric'),
        ('list_unit_price', 'numeric'),
        ('contracted_unit_price', 'numeric'),
        ('pricing_category', 'text'),
        ('pricing_quantity', 'numeric'),
        ('pricing_unit', 'text'),
        ('consumed_quantity', 'numeric'),
        ('consumed_unit', 'text'),
        ('sku_id', 'text'),
        ('sku_price_id', 'text'),
        ('sku_meter', 'text'),
        ('resource_id', 'text'),
        ('resource_name', 'text'),
        ('resource_type', 'text'),
        ('region_id', 'text'),
        ('region_name', 'text'),
        ('availability_zone', 'text'),
        ('commitment_discount_id', 'text'),
        ('commitment_discount_name', 'text'),
        ('commitment_discount_type', 'text'),
        ('commitment_discount_category', 'text'),
        ('commitment_discount_status', 'text'),
        ('tags', 'jsonb'),
        ('x_department', 'text'),
        ('x_team', 'text'),
        ('x_user_email', 'text'),
        ('x_project', 'text'),
        ('x_customer', 'text'),
        ('x_feature', 'text'),
        ('x_cost_category', 'text'),
        ('x_environment', 'text'),
        ('x_estimated', 'boolean'),
    ]) }}
{%- endmacro %}


{% macro cost_columns() -%}
    {{ return(cost_column_types() | map(attribute=0) | list) }}
{%- endmacro %}


{#-
    The key of one ledger line: md5 of the source system and the source's own key of the
    line (its natural key and, where a record yields several lines, what tells them apart).
-#}
{% macro cost_id(source_system, line_key) -%}
    md5(concat_ws('|', {{ source_system }}, {{ line_key }}))
{%- endmacro %}


{#- The first instant of the UTC calendar month holding `column` (a timestamptz). -#}
{% macro utc_month_start(column) -%}
    (date_trunc('month', {{ column }} at time zone 'UTC') at time zone 'UTC')
{%- endmacro %}
