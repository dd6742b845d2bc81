with

conversations as (

    select * from {{ ref('int_conversations') }}

),

final as (

    select
        -- ids
        conversation_id,
        customer_id,

        -- strings
        channel,
        support_type,

        -- numerics
        chatbot_duration_seconds,
        start_hour_of_day,
        event_count,

        -- booleans
        is_engaged,
        has_welcome,

        -- timestamps and dates
        started_at,
        ended_at,
        first_received_at,
        report_date

    from conversations

)

select * from final
