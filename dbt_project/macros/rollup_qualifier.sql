{#- The qualifier of a sum: approximate if any part is approximate, else a lower bound if any part
    is a lower bound ("hơn"), else exact. A figure is never silently made exact. With `condition`,
    only the parts meeting it count. -#}
{% macro rollup_qualifier(column, condition=none) -%}
    {%- set only = " filter (where " ~ condition ~ ")" if condition else "" -%}
    case
        when bool_or({{ column }} = 'approximate'){{ only }} then 'approximate'
        when bool_or({{ column }} = 'lower_bound'){{ only }} then 'lower_bound'
        else 'exact'
    end
{%- endmacro %}
