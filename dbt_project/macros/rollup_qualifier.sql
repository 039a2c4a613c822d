{#- The qualifier of a sum: approximate if any part is approximate, else a lower bound if any part
    is a lower bound ("hơn"), else exact. A figure is never silently made exact. -#}
{% macro rollup_qualifier(column) -%}
    case
        when bool_or({{ column }} = 'approximate') then 'approximate'
        when bool_or({{ column }} = 'lower_bound') then 'lower_bound'
        else 'exact'
    end
{%- endmacro %}
