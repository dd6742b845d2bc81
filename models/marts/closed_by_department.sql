-- depends_on: {{ ref('int_run_report_days') }}
{#
    Incremental (decision O9): every row of a (report_date, channel) pair with a changed handover
    request is replaced (sparse: only non-zero rows are inserted).
#}
{{ config(replace_where="
    (target_rows.report_date, target_rows.channel) in (
        {{ chat_analytics.affected_report_days(conversations=false) }}
    )
") }}

{%- set incremental = chat_analytics.incremental_run() %}

with
{%- if incremental %}

days_to_build as (

    {{ chat_analytics.affected_report_days(conversations=false) }}

),
{%- endif %}

handover_requests as (

    select
        handover_id,
        channel,
        department,
        closed_at,
        closed_date
    from {{ ref('int_handover_requests') }}
    {%- if incremental %}
    where (closed_date, channel) in (select report_date, channel from days_to_build)
    {%- endif %}

),

final as (

    select
        closed_date as report_date,
        department,
        channel,
        cast(count(*) as {{ dbt.type_bigint() }}) as closed_conversations
    from handover_requests
    where closed_at is not null
    group by closed_date, department, channel

)

select
    report_date,
    department,
    channel,
    closed_conversations
from final
