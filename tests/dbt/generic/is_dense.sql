{#
    The model has exactly one row for every combination of the reporting dates, the
    reporting channels and, optionally, the values of one closed dimension: no gaps.
    The dimension's values are listed, or read from `values_from`, a relation (a seed) with a
    column of the same name.
    Usage:
        data_tests:
          - is_dense:
              arguments:
                date_column: report_date
                channel_column: channel
                closed_dimension: {column: hour_of_day, values: [0, 1, 2]}
                # or: closed_dimension: {column: outcome}
                #     values_from: ref('outcomes')
#}
{% test is_dense(model, date_column, channel_column, closed_dimension=none, values_from=none) %}

with

expected as (

    select
        report_dates.report_date,
        channels.channel
        {%- if closed_dimension %},
        dimension_values.dimension_value
        {%- endif %}
    from {{ ref('int_reporting_dates') }} as report_dates
    cross join {{ ref('int_reporting_channels') }} as channels
    {%- if closed_dimension %}
    cross join (
        {% if values_from is not none -%}
        select distinct cast({{ closed_dimension['column'] }} as {{ dbt.type_string() }}) as dimension_value
        from {{ values_from }}
        {%- else -%}
        {% for value in closed_dimension['values'] -%}
        select cast({{ chat_analytics.quoted_literal(value) }} as {{ dbt.type_string() }}) as dimension_value
        {% if not loop.last %}union all
        {% endif %}
        {%- endfor %}
        {%- endif %}
    ) as dimension_values
    {%- endif %}

),

actual as (

    select
        {{ date_column }} as report_date,
        {{ channel_column }} as channel
        {%- if closed_dimension %},
        cast({{ closed_dimension['column'] }} as {{ dbt.type_string() }}) as dimension_value
        {%- endif %},
        count(*) as row_count
    from {{ model }}
    group by
        {{ date_column }},
        {{ channel_column }}
        {%- if closed_dimension %},
        cast({{ closed_dimension['column'] }} as {{ dbt.type_string() }})
        {%- endif %}

),

compared as (

    select
        coalesce(expected.report_date, actual.report_date) as report_date,
        coalesce(expected.channel, actual.channel) as channel,
        coalesce(actual.row_count, 0) as row_count,
        expected.report_date is not null as is_expected
    from expected
    full outer join actual
        on expected.report_date = actual.report_date
        and expected.channel = actual.channel
        {%- if closed_dimension %}
        and expected.dimension_value = actual.dimension_value
        {%- endif %}

)

select *
from compared
where row_count <> 1 or not is_expected

{% endtest %}
