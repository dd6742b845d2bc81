{#
    Sessionization (SPEC §3 "Conversation"). A thread is one (customer_id, channel) pair,
    ordered by occurred_at then event_id. A customer interaction starts a conversation when
      1. it is the thread's first customer interaction, or
      2. a conversation_closed lies strictly between the previous interaction and it, or
      3. more than `inactivity_minutes()` passed since the thread's previous event (of any
         kind) and no handover of the thread is open at that moment (decision M2).
    Every event belongs to the latest conversation of its thread started at or before it.
#}

{%- set inactivity_limit_minutes = inactivity_minutes() %}

with

events as (

    select
        event_id,
        customer_id,
        handover_id,
        agent_id,
        channel,
        event_type,
        sender,
        message_type,
        department,
        flow_type,
        occurred_at,
        _arrival_date,
        _loaded_at
    from {{ ref('stg_chat__events') }}

),

positioned as (

    select
        *,
        row_number() over (
            partition by customer_id, channel order by occurred_at, event_id
        ) as thread_position,
        lag(occurred_at) over (
            partition by customer_id, channel order by occurred_at, event_id
        ) as previous_event_at,
        coalesce(
            (event_type = 'message' and sender = 'customer') or event_type = 'handover_requested',
            false
        ) as is_customer_interaction,
        -- conversation_closed events of the thread up to and including this one
        sum(case when event_type = 'conversation_closed' then 1 else 0 end) over (
            partition by customer_id, channel order by occurred_at, event_id
            rows between unbounded preceding and current row
        ) as thread_closes_so_far
    from events

),

handover_state_events as (

    -- each received / closed event moves its handover to open (1) or not open (0);
    -- the change in the thread's number of open handovers is new state - previous state
    select
        event_id,
        case when event_type = 'handover_received' then 1 else 0 end
        - coalesce(
            lag(case when event_type = 'handover_received' then 1 else 0 end) over (
                partition by customer_id, channel, handover_id
                order by occurred_at, event_id
            ),
            0
        ) as open_handovers_change
    from positioned
    where
        handover_id is not null
        and event_type in ('handover_received', 'conversation_closed')

),

with_open_handovers as (

    select
        positioned.*,
        coalesce(
            sum(coalesce(handover_state_events.open_handovers_change, 0)) over (
                partition by positioned.customer_id, positioned.channel
                order by positioned.thread_position
                rows between unbounded preceding and 1 preceding
            ),
            0
        ) as open_handovers_before
    from positioned
    left join handover_state_events
        on positioned.event_id = handover_state_events.event_id

),

interactions as (

    select
        event_id,
        lag(thread_position) over (
            partition by customer_id, channel order by thread_position
        ) as previous_interaction_position,
        lag(thread_closes_so_far) over (
            partition by customer_id, channel order by thread_position
        ) as closes_at_previous_interaction
    from with_open_handovers
    where is_customer_interaction

),

conversation_starts as (

    select
        with_open_handovers.*,
        interactions.previous_interaction_position,
        coalesce(
            with_open_handovers.is_customer_interaction
            and (
                -- 1. first customer interaction of the thread
                interactions.previous_interaction_position is null
                -- 2. a conversation_closed since the previous interaction (a reopen)
                or with_open_handovers.thread_closes_so_far > interactions.closes_at_previous_interaction
                -- 3. inactivity (strictly more than the limit) with no open handover
                or (
                    with_open_handovers.occurred_at
                    > {{ dbt.dateadd('minute', inactivity_limit_minutes, 'with_open_handovers.previous_event_at') }}
                    and with_open_handovers.open_handovers_before = 0
                )
            ),
            false
        ) as starts_conversation
    from with_open_handovers
    left join interactions
        on with_open_handovers.event_id = interactions.event_id

),

numbered as (

    select
        *,
        sum(case when starts_conversation then 1 else 0 end) over (
            partition by customer_id, channel
            order by thread_position
            rows between unbounded preceding and current row
        ) as thread_conversation_number
    from conversation_starts

),

final as (

    select
        -- ids
        event_id,
        case
            when thread_conversation_number > 0
                then first_value(event_id) over (
                    partition by customer_id, channel, thread_conversation_number
                    order by thread_position
                )
        end as conversation_id,
        customer_id,
        handover_id,
        agent_id,

        -- strings
        channel,
        event_type,
        sender,
        message_type,
        department,
        flow_type,

        -- numerics
        thread_position,
        cast(thread_conversation_number as {{ dbt.type_bigint() }}) as thread_conversation_number,
        cast(open_handovers_before as {{ dbt.type_bigint() }}) as open_handovers_before,

        -- booleans
        is_customer_interaction,
        starts_conversation,

        -- timestamps
        occurred_at,
        previous_event_at,
        {{ to_local_timestamp('occurred_at') }} as occurred_local_at,
        cast({{ to_local_timestamp('occurred_at') }} as date) as occurred_local_date,

        -- lineage
        _arrival_date,
        _loaded_at

    from numbered

)

select * from final
