with

handover_requests as (

    select * from {{ ref('int_handover_requests') }}

),

final as (

    select
        -- ids
        handover_id,
        conversation_id,
        customer_id,

        -- strings
        channel,
        outcome,
        department,

        -- numerics
        initial_wait_seconds,
        agent_reply_count,
        requested_hour_of_day,

        -- timestamps and local dates
        requested_at,
        received_at,
        first_agent_reply_at,
        closed_at,
        requested_date,
        received_date,
        first_agent_reply_date,
        closed_date

    from handover_requests

)

select * from final
