{#
    Every row satisfies a boolean SQL `expression` (rows where it is false or null fail).
    Usage:
        data_tests:
          - expression_is_true:
              arguments:
                expression: "engaged_conversations <= total_conversations"
#}
{% test expression_is_true(model, expression) %}

select *
from {{ model }}
where not coalesce(({{ expression }}), false)

{% endtest %}
