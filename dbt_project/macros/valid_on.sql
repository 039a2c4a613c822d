{#- True when the unit version `units` existed on `day` (a current version has no valid_to). -#}
{% macro valid_on(units, day) -%}
    {{ day }} between {{ units }}.valid_from and coalesce({{ units }}.valid_to, 'infinity'::date)
{%- endmacro %}
