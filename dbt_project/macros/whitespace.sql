{#
    The characters trimmed from strings and that make a value blank: Unicode White_Space, tabs
    included (decisions M1, R5). The loader's list (orchestration/raw_events.py,
    WHITESPACE_CODE_POINTS) is the same; tests/test_dbt_models.py keeps them equal.
#}
{% macro whitespace_code_points() -%}
    {{ return([9, 10, 11, 12, 13, 32, 133, 160, 5760, 8192, 8193, 8194, 8195, 8196, 8197, 8198, 8199, 8200, 8201, 8202, 8232, 8233, 8239, 8287, 12288]) }}
{%- endmacro %}

{% macro trim_whitespace(column_name) -%}
    {{ return(adapter.dispatch('trim_whitespace', 'chat_analytics')(column_name)) }}
{%- endmacro %}

{% macro default__trim_whitespace(column_name) -%}
    trim({{ column_name }}, {% for code in chat_analytics.whitespace_code_points() %}chr({{ code }}){% if not loop.last %} || {% endif %}{% endfor %})
{%- endmacro %}
