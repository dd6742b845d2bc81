{#
    Qualifying agent replies of requests that exist, so that "answered conversations" can be
    counted exactly over any period (a request answered on two days of the period counts once).
    Replies of handovers whose request has not arrived are left out here, like every orphan
    (decision M15), and appear as soon as the request does.
#}

with

replies as (

    select * from {{ ref('int_handover_agent_replies') }}

),

handover_requests as (

    select
        handover_id,
        customer_id,
        channel
    from {{ ref('int_handover_requests') }}

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
