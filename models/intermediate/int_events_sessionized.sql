{#
    Sessionization (SPEC §3 "Conversation"). A thread is one (customer_id, channel) pair,
    ordered by occurred_at then event_id. A customer interaction starts a conversation when
      1. it is the thread's first customer interaction, or
      2. a conversation_closed lies strictly between the previous interaction and it, or
      3. more than `inactivity_minutes()` passed since the thread's previous event (of any
         kind) and no handover of the thread is open at that moment (decision M2).
    Every event belongs to the latest conversation of its thread started at or before it.

    Incremental (decision O6): each changed thread is recomputed from the earliest instant of its
    changed events to its end, resuming from the state stored just before that instant (the
    `_state_after` of the event before the thread's first event in the range, else the thread's
    tail) and from the
    handovers open at that instant. A full run starts every thread from the initial state; both
    runs compute the same state columns, so any sequence of runs gives the full run's rows.
#}
{{ config(
    replace_where="
        target_rows.occurred_at >= {{ chat_analytics.load_window()['min_range_start'] }}
        and exists (
            select 1
            from {{ chat_analytics.plan_relation('changed_threads') }} as changed
            where changed.customer_id = target_rows.customer_id
                and changed.channel = target_rows.channel
                and target_rows.occurred_at >= changed.range_start
        )
    ",
    post_hook="{{ chat_analytics.maintain_sessionization_bookkeeping() }}",
) }}

{%- set inactivity_limit_minutes = inactivity_minutes() %}
{%- set incremental = chat_analytics.incremental_run() %}
{#- the state each thread resumes from: stored (incremental) or initial (full: typed constants) -#}
{%- set restart = {} %}
{%- for field in chat_analytics.session_state_fields() %}
    {%- do restart.update({field: 'restart_state.' ~ field if incremental else chat_analytics.initial_session_value(field)}) %}
{%- endfor %}

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
    {%- if incremental %}
    where occurred_at >= {{ chat_analytics.load_window()['min_range_start'] }}
    {%- endif %}

),

{%- if incremental %}

restarts as (

    select customer_id, channel, range_start, state
    from {{ chat_analytics.plan_relation('thread_restarts') }}

),

open_handovers_at_restart as (

    select customer_id, channel, handover_id
    from {{ chat_analytics.plan_relation('open_handovers') }}

),

thread_events as (

    -- the events of each changed thread from its range start on
    select
        events.*,
        restarts.state as restart_state
    from events
    inner join restarts
        on events.customer_id = restarts.customer_id
        and events.channel = restarts.channel
    where events.occurred_at >= restarts.range_start

),

{%- else %}

open_handovers_at_restart as (

    select
        cast(null as varchar) as customer_id,
        cast(null as varchar) as channel,
        cast(null as varchar) as handover_id
    where false

),

thread_events as (

    select * from events

),

{%- endif %}

classified as (

    select
        *,
        coalesce(
            (event_type = 'message' and sender = 'customer') or event_type = 'handover_requested',
            false
        ) as is_customer_interaction,
        case
            when (event_type = 'message' and sender = 'customer') or event_type = 'handover_requested'
                then 'interaction'
            when event_type = 'conversation_closed' then 'close'
        end as interaction_or_close
    from thread_events

),

positioned as (

    select
        *,
        {{ restart['thread_position'] }} + row_number() over thread_order as thread_position,
        coalesce(lag(occurred_at) over thread_order, {{ restart['last_event_at'] }}) as previous_event_at,
        -- a customer interaction earlier in the thread
        coalesce(bool_or(is_customer_interaction) over earlier_events, false)
            or {{ restart['conversation_number'] }} > 0 as has_previous_interaction,
        -- a conversation_closed since the previous customer interaction
        coalesce(
            last_value(interaction_or_close ignore nulls) over earlier_events = 'close',
            {{ restart['closed_since_interaction'] }}
        ) as closed_since_interaction
    from classified
    window
        thread_order as (partition by customer_id, channel order by occurred_at, event_id),
        earlier_events as (
            thread_order rows between unbounded preceding and 1 preceding
        )

),

handover_state_events as (

    -- each received / closed event moves its handover to open (1) or not open (0);
    -- the change in the thread's number of open handovers is new state - previous state
    select
        positioned.event_id,
        case when positioned.event_type = 'handover_received' then 1 else 0 end
        - coalesce(
            lag(case when positioned.event_type = 'handover_received' then 1 else 0 end) over (
                partition by positioned.customer_id, positioned.channel, positioned.handover_id
                order by positioned.occurred_at, positioned.event_id
            ),
            case when open_handovers_at_restart.handover_id is not null then 1 else 0 end
        ) as open_handovers_change
    from positioned
    left join open_handovers_at_restart
        on positioned.customer_id = open_handovers_at_restart.customer_id
        and positioned.channel = open_handovers_at_restart.channel
        and positioned.handover_id = open_handovers_at_restart.handover_id
    where
        positioned.handover_id is not null
        and positioned.event_type in ('handover_received', 'conversation_closed')

),

open_handovers_at_restart_counts as (

    select
        customer_id,
        channel,
        count(*) as open_handovers
    from open_handovers_at_restart
    group by customer_id, channel

),

with_open_handovers as (

    select
        positioned.*,
        coalesce(open_handovers_at_restart_counts.open_handovers, 0)
        + coalesce(
            sum(coalesce(handover_state_events.open_handovers_change, 0)) over (
                partition by positioned.customer_id, positioned.channel
                order by positioned.occurred_at, positioned.event_id
                rows between unbounded preceding and 1 preceding
            ),
            0
        ) as open_handovers_before
    from positioned
    left join handover_state_events
        on positioned.event_id = handover_state_events.event_id
    left join open_handovers_at_restart_counts
        on positioned.customer_id = open_handovers_at_restart_counts.customer_id
        and positioned.channel = open_handovers_at_restart_counts.channel

),

conversation_starts as (

    select
        *,
        coalesce(
            is_customer_interaction
            and (
                -- 1. first customer interaction of the thread
                not has_previous_interaction
                -- 2. a conversation_closed since the previous interaction (a reopen)
                or closed_since_interaction
                -- 3. inactivity (strictly more than the limit) with no open handover
                or (
                    occurred_at > {{ dbt.dateadd('minute', inactivity_limit_minutes, 'previous_event_at') }}
                    and open_handovers_before = 0
                )
            ),
            false
        ) as starts_conversation
    from with_open_handovers

),

numbered as (

    select
        *,
        -- conversations started in the recomputed range up to this event (0: the restart's conversation)
        cast(sum(case when starts_conversation then 1 else 0 end) over (
            partition by customer_id, channel
            order by occurred_at, event_id
            rows between unbounded preceding and current row
        ) as {{ dbt.type_bigint() }}) as range_conversation_number
    from conversation_starts

),

conversations as (

    -- the running summary of each event's conversation (decision M10 for engagement: the
    -- conversation is engaged when an engaging event comes after its first welcome, or after its
    -- opening event without one)
    select
        *,
        {{ restart['conversation_number'] }} + range_conversation_number as thread_conversation_number,
        range_conversation_number = 0 as continues_restart_conversation,
        first_value(event_id) over conversation_so_far as range_conversation_id,
        first_value(occurred_at) over conversation_so_far as range_started_at,
        count(*) over conversation_so_far as range_event_count,
        count(case when is_customer_interaction then 1 end) over conversation_so_far as range_interaction_count,
        min(case when event_type = 'message' and message_type = 'welcome' then thread_position end)
            over conversation_so_far as range_first_welcome_position,
        max(case when {{ is_engaging_event() }} then thread_position end)
            over conversation_so_far as range_last_engaging_position,
        coalesce(bool_or({{ is_engaging_event() }} and not starts_conversation) over conversation_so_far, false)
            as range_engaged_after_opening,
        min(case when event_type = 'handover_received' then occurred_at end)
            over conversation_so_far as range_first_received_at,
        last_value(case when event_type = 'message' and sender = 'bot' then flow_type end ignore nulls)
            over conversation_so_far as range_last_flow_type
    from numbered
    window conversation_so_far as (
        partition by customer_id, channel, range_conversation_number
        order by occurred_at, event_id
        rows between unbounded preceding and current row
    )

),

identified as (

    select
        *,
        case
            when continues_restart_conversation then {{ restart['conversation_id'] }}
            else range_conversation_id
        end as conversation_id
    from conversations

),

states as (

    -- the state after the event: the thread part, then the running summary of its conversation
    -- (the restart's summary continued while the restart's conversation goes on)
    select
        *,
        struct_pack(
            thread_position := thread_position,
            conversation_number := thread_conversation_number,
            conversation_id := conversation_id,
            last_event_at := occurred_at,
            closed_since_interaction := case
                when is_customer_interaction then false
                when event_type = 'conversation_closed' then true
                else closed_since_interaction
            end,
            conversation_started_at := case
                when conversation_id is null then null
                when not continues_restart_conversation then range_started_at
                else {{ restart['conversation_started_at'] }}
            end,
            conversation_event_count := case
                when conversation_id is null then null
                when not continues_restart_conversation then range_event_count
                else {{ restart['conversation_event_count'] }} + range_event_count
            end,
            conversation_interaction_count := case
                when conversation_id is null then null
                when not continues_restart_conversation then range_interaction_count
                else {{ restart['conversation_interaction_count'] }} + range_interaction_count
            end,
            conversation_first_welcome_position := case
                when conversation_id is null then null
                when not continues_restart_conversation then range_first_welcome_position
                else coalesce({{ restart['conversation_first_welcome_position'] }}, range_first_welcome_position)
            end,
            conversation_last_engaging_position := case
                when conversation_id is null then null
                when not continues_restart_conversation then range_last_engaging_position
                else coalesce(range_last_engaging_position, {{ restart['conversation_last_engaging_position'] }})
            end,
            conversation_engaged_after_opening := case
                when conversation_id is null then null
                when not continues_restart_conversation then range_engaged_after_opening
                else {{ restart['conversation_engaged_after_opening'] }} or range_engaged_after_opening
            end,
            conversation_first_received_at := case
                when conversation_id is null then null
                when not continues_restart_conversation then range_first_received_at
                else coalesce({{ restart['conversation_first_received_at'] }}, range_first_received_at)
            end,
            conversation_last_flow_type := case
                when conversation_id is null then null
                when not continues_restart_conversation then range_last_flow_type
                else coalesce(range_last_flow_type, {{ restart['conversation_last_flow_type'] }})
            end
        ) as state_after
    from identified

),

final as (

    select
        -- ids
        event_id,
        conversation_id,
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

        -- incremental state (decision O6): the sessionization state after the event; the state
        -- before an event is the previous event's (thread_position - 1), read only where a run resumes
        state_after as _state_after,

        -- lineage
        _arrival_date,
        _loaded_at,
        {{ chat_analytics.processed_load_seq() }} as _processed_load_seq

    from states

)

-- Not sorted: ordering 10 million wide rows was 18% of this model's CPU time at 10M events (issue 4
-- profile), while incremental runs filter on occurred_at column scans that stay cheap without it.
select * from final
