{#
    Models land in the schema named by their folder's `+schema` config exactly
    (`staging`, `intermediate`, `marts`), without dbt's default `<target>_` prefix:
    SPEC §5 fixes the warehouse schemas. Nodes without a custom schema use the target's.
#}
{% macro generate_schema_name(custom_schema_name, node) -%}
    {%- if custom_schema_name is none -%}
        {{ target.schema }}
    {%- else -%}
        {{ custom_schema_name | trim }}
    {%- endif -%}
{%- endmacro %}
