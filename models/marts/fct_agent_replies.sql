{#
    Qualifying agent replies of requests that exist, so that "answered conversations" can be
    counted exactly over any period (a request answered on two days of the period counts once).
    Replies of handovers whose request has not arrived are left out here, like every orphan
    (decision M15), and appear as soon as the request does.

    Incremental (decision O9): the replies of every handover whose request or replies changed since
    the watermark are replaced.
#}
{{ config(replace_where="
    target_rows.handover_id in (
        select handover_id from {{ chat_analytics.changed_since_watermark('int_handover_requests', 'handover_id') }}
        union
        select handover_id from {{ chat_analytics.changed_since_watermark('int_handover_agent_replies', 'handover_id') }}
    )
") }}

{%- set incremental = chat_analytics.incremental_run() %}

with

{%- if incremental %}

changed_handovers as (

    select handover_id from {{ chat_analytics.changed_since_watermark('int_handover_requests', 'handover_id') }}
    union
    select handover_id from {{ chat_analytics.changed_since_watermark('int_handover_agent_replies', 'handover_id') }}

),
{%- endif %}

replies as (

    select * from {{ ref('int_handover_agent_replies') }}
    {%- if incremental %}
    where handover_id in (select handover_id from changed_handovers)
    {%- endif %}

),

handover_requests as (

    select
        handover_id,
        customer_id,
        channel
    from {{ ref('int_handover_requests') }}
    {%- if incremental %}
    where handover_id in (select handover_id from changed_handovers)
    {%- endif %}

),

final as (

    select
        -- ids
        replies.reply_event_id,
        replies.handover_id,
        handover_requests.customer_id,
        replies.agent_id,

        -- strings
        handover_requests.channel,

        -- numerics
        {{ hour_of('replies.replied_local_at') }} as reply_hour_of_day,

        -- timestamps and local dates
        replies.replied_at,
        replies.reply_date

    from replies
    inner join handover_requests
        on replies.handover_id = handover_requests.handover_id

)

select * from final
