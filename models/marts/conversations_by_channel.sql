-- depends_on: {{ ref('int_run_report_days') }}
{#
    Incremental (decision O9): every row of a (report_date, channel) pair with a changed
    conversation is replaced (sparse: only non-zero rows are inserted).
#}
{{ config(replace_where="
    (target_rows.report_date, target_rows.channel) in (
        {{ chat_analytics.affected_report_days(handovers=false) }}
    )
") }}

{%- set incremental = chat_analytics.incremental_run() %}

with
{%- if incremental %}

days_to_build as (

    {{ chat_analytics.affected_report_days(handovers=false) }}

),
{%- endif %}

conversations as (

    select
        conversation_id,
        channel,
        support_type,
        report_date,
        is_engaged
    from {{ ref('int_conversations') }}
    {%- if incremental %}
    where (report_date, channel) in (select report_date, channel from days_to_build)
    {%- endif %}

),

final as (

    select
        report_date,
        channel,
        support_type,
        cast(count(*) as {{ dbt.type_bigint() }}) as total_conversations,
        cast(count(case when is_engaged then 1 end) as {{ dbt.type_bigint() }}) as engaged_conversations
    from conversations
    group by report_date, channel, support_type

)

select
    report_date,
    channel,
    support_type,
    total_conversations,
    engaged_conversations
from final
