{#
    Per-conversation measures (SPEC §3): bounds, engagement, support type, chatbot duration.
#}

with

conversation_events as (

    select
        event_id,
        conversation_id,
        customer_id,
        channel,
        event_type,
        sender,
        message_type,
        flow_type,
        thread_position,
        is_customer_interaction,
        occurred_at
    from {{ ref('int_events_sessionized') }}
    where conversation_id is not null

),

conversation_bounds as (

    select
        conversation_id,
        customer_id,
        channel,
        min(thread_position) as opening_position,
        min(case when event_type = 'message' and message_type = 'welcome' then thread_position end)
            as first_welcome_position,
        count(*) as event_count,
        count(case when is_customer_interaction then 1 end) as customer_interaction_count,
        min(occurred_at) as started_at,
        max(occurred_at) as ended_at,
        min(case when event_type = 'handover_received' then occurred_at end) as first_received_at
    from conversation_events
    group by conversation_id, customer_id, channel

),

engaging_events as (

    -- a customer interaction, or an agent message the customer sees, after the first
    -- welcome message (or, without one, after the opening event)
    select distinct conversation_events.conversation_id
    from conversation_events
    inner join conversation_bounds
        on conversation_events.conversation_id = conversation_bounds.conversation_id
    where
        (
            conversation_events.is_customer_interaction
            or (
                conversation_events.event_type = 'message'
                and conversation_events.sender = 'agent'
                and coalesce(conversation_events.message_type, 'text') <> 'internal_note'
            )
        )
        and conversation_events.thread_position
        > coalesce(conversation_bounds.first_welcome_position, conversation_bounds.opening_position)

),

bot_flows as (

    select
        conversation_id,
        flow_type,
        row_number() over (partition by conversation_id order by thread_position desc) as recency_rank
    from conversation_events
    where
        event_type = 'message'
        and sender = 'bot'
        and flow_type is not null

),

last_bot_flow as (

    select conversation_id, flow_type
    from bot_flows
    where recency_rank = 1

),

final as (

    select
        -- ids
        conversation_bounds.conversation_id,
        conversation_bounds.customer_id,

        -- strings
        conversation_bounds.channel,
        coalesce(last_bot_flow.flow_type, 'other') as support_type,

        -- numerics
        conversation_bounds.event_count,
        conversation_bounds.customer_interaction_count,
        {{ seconds_between(
            'conversation_bounds.started_at',
            'coalesce(conversation_bounds.first_received_at, conversation_bounds.ended_at)'
        ) }} as chatbot_duration_seconds,
        {{ hour_of(to_local_timestamp('conversation_bounds.started_at')) }} as start_hour_of_day,

        -- booleans
        engaging_events.conversation_id is not null as is_engaged,
        conversation_bounds.first_welcome_position is not null as has_welcome,
        conversation_bounds.first_received_at is not null as has_reception,

        -- timestamps and dates
        conversation_bounds.started_at,
        conversation_bounds.ended_at,
        conversation_bounds.first_received_at,
        {{ to_local_timestamp('conversation_bounds.started_at') }} as started_local_at,
        cast({{ to_local_timestamp('conversation_bounds.started_at') }} as date) as report_date

    from conversation_bounds
    left join engaging_events
        on conversation_bounds.conversation_id = engaging_events.conversation_id
    left join last_bot_flow
        on conversation_bounds.conversation_id = last_bot_flow.conversation_id

)

select * from final
