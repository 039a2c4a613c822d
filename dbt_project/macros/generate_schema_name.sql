{#- Use the folder's schema as it is (staging, intermediate, audit, reference), not prefixed with
    the target schema: the layers are fixed schemas of the warehouse. -#}
{% macro generate_schema_name(custom_schema_name, node) -%}
    {%- if custom_schema_name is none -%}
        {{ target.schema }}
    {%- else -%}
        {{ custom_schema_name | trim }}
    {%- endif -%}
{%- endmacro %}
