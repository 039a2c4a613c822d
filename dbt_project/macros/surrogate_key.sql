{#- An md5 key over the given columns (the project uses no dbt packages: no network at run time). -#}
{% macro surrogate_key(columns) -%}
    md5(concat_ws('|', {% for column in columns %}coalesce(cast({{ column }} as text), '∅'){% if not loop.last %}, {% endif %}{% endfor %}))
{%- endmacro %}
