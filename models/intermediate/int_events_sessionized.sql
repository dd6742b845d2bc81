-- depends_on: {{ ref('int_run_threads') }}
{#
    Sessionization, version 2 (docs/metrics.md "Conversation"; rules in macros/metric_rules.sql).
    A thread (customer_id, channel; ordered by occurred_at then event_id) is cut into stretches at its
    first event, after every conversation_closed, at a silence of more than the inactivity with no
    handover open, and at a silence of more than the handover timeout whatever is open. A stretch
    holding a customer interaction is a conversation, opened by its first event; the other stretches'
    events belong to no conversation.

    Open handovers are counted per epoch (the events between two silences longer than the timeout):
    a handover opens at its first reception of the epoch that precedes the handover's first close in
    the thread, and stays open until that close or the epoch's end (decisions M2, M19). The events are
    sorted three times (gaps, epochs, stretches and their conversations); open handovers are joined
    from their few intervals rather than summed by another window over every event (issue 13: six
    sorts before).

    One code path (decision O6): an incremental run reads only the events of the threads in
    int_run_threads from their range start, which is the start of an epoch, so every window below
    starts from the same state as in a full run; the first closes are read from the whole thread.
#}
{{ config(replace_where="{{ chat_analytics.in_recomputed_range('target_rows') }}") }}

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
    from {{ ref('stg_chat__events') }} as staged
    where {{ chat_analytics.in_recomputed_range('staged') }}

),

ranked_closes as (

    select
        customer_id,
        channel,
        handover_id,
        event_id,
        occurred_at,
        row_number() over (
            partition by customer_id, channel, handover_id
            order by occurred_at, event_id
        ) as close_rank
    from {{ ref('stg_chat__events') }} as staged
    where
        event_type = 'conversation_closed'
        and handover_id is not null
        and {{ chat_analytics.in_recomputed_threads('staged') }}

),

first_closes as (

    -- a handover's first close in its thread, wherever it lies: a reception after it opens nothing
    select
        customer_id,
        channel,
        handover_id,
        event_id as first_close_event_id,
        occurred_at as first_close_at
    from ranked_closes
    where close_rank = 1

),

previous_events as (

    select
        *,
        lag(occurred_at) over thread_order as previous_event_at,
        lag(event_type) over thread_order as previous_event_type,
        -- positions count from the range's first event, which starts an epoch and so a stretch:
        -- a position within a stretch is the same in full and incremental runs
        row_number() over thread_order as range_position
    from events
    window thread_order as (partition by customer_id, channel order by occurred_at, event_id)

),

epochs as (

    select
        *,
        -- occurred_at grows along the thread: the running max is the latest epoch start
        max(case when {{ chat_analytics.starts_epoch('occurred_at', 'previous_event_at') }} then occurred_at end) over (
            partition by customer_id, channel
            order by occurred_at, event_id
            rows between unbounded preceding and current row
        ) as epoch_started_at
    from previous_events

),

handover_state_events as (

    select
        epochs.event_id,
        epochs.customer_id,
        epochs.channel,
        epochs.handover_id,
        epochs.epoch_started_at,
        epochs.event_type,
        epochs.occurred_at,
        first_closes.first_close_event_id,
        first_closes.first_close_at
    from epochs
    left join first_closes
        on epochs.customer_id = first_closes.customer_id
        and epochs.channel = first_closes.channel
        and epochs.handover_id = first_closes.handover_id
    where
        epochs.handover_id is not null
        and epochs.event_type in ('handover_received', 'conversation_closed')

),

ranked_openings as (

    select
        *,
        row_number() over (
            partition by customer_id, channel, epoch_started_at, handover_id
            order by occurred_at, event_id
        ) as opening_rank
    from handover_state_events
    where
        event_type = 'handover_received'
        and {{ chat_analytics.reception_opens_handover(
            'occurred_at', 'event_id', 'first_close_at', 'first_close_event_id'
        ) }}

),

open_intervals as (

    -- a handover is open after the reception that opens it in the epoch (a second one changes
    -- nothing) up to and including its first close when that lies in the same epoch, else to the
    -- epoch's end
    select
        openings.customer_id,
        openings.channel,
        openings.epoch_started_at,
        openings.occurred_at as opened_at,
        openings.event_id as opening_event_id,
        closes.occurred_at as closed_at,
        closes.event_id as closing_event_id
    from ranked_openings as openings
    left join handover_state_events as closes
        on openings.first_close_event_id = closes.event_id
        and openings.epoch_started_at = closes.epoch_started_at
    where openings.opening_rank = 1

),

open_handover_counts as (

    -- a join, not a window over every event: most threads have no open interval at all
    select
        epochs.event_id,
        count(*) as open_handovers_before
    from epochs
    inner join open_intervals
        on epochs.customer_id = open_intervals.customer_id
        and epochs.channel = open_intervals.channel
        and epochs.epoch_started_at = open_intervals.epoch_started_at
    where
        (
            epochs.occurred_at > open_intervals.opened_at
            or (epochs.occurred_at = open_intervals.opened_at and epochs.event_id > open_intervals.opening_event_id)
        )
        and (
            open_intervals.closing_event_id is null
            or epochs.occurred_at < open_intervals.closed_at
            or (epochs.occurred_at = open_intervals.closed_at and epochs.event_id <= open_intervals.closing_event_id)
        )
    group by epochs.event_id

),

stretch_starts as (

    select
        epochs.*,
        coalesce(open_handover_counts.open_handovers_before, 0) as open_handovers_before,
        {{ chat_analytics.starts_stretch(
            'epochs.occurred_at',
            'epochs.previous_event_at',
            'epochs.previous_event_type',
            'coalesce(open_handover_counts.open_handovers_before, 0)'
        ) }} as starts_stretch,
        {{ chat_analytics.is_customer_interaction('epochs.') }} as is_customer_interaction
    from epochs
    left join open_handover_counts
        on epochs.event_id = open_handover_counts.event_id

),

stretches as (

    -- one sort gives the stretch and whether it holds a customer interaction: the latest of the
    -- stretch's start and the interactions so far, and the earliest of the next start and the
    -- interactions after (a distinct of the stretches joined back to every event cost 5 s at 10M events)
    select
        *,
        {{ chat_analytics.last_value_ignore_nulls('case when starts_stretch then event_id end') }} over thread_so_far as stretch_id,
        range_position
        - {{ chat_analytics.last_value_ignore_nulls('case when starts_stretch then range_position end') }} over thread_so_far
        + 1 as stretch_position,
        {{ chat_analytics.last_value_ignore_nulls(
            'case when is_customer_interaction then true when starts_stretch then false end'
        ) }} over thread_so_far as interaction_so_far,
        {{ chat_analytics.first_value_ignore_nulls(
            'case when starts_stretch then false when is_customer_interaction then true end'
        ) }} over thread_after as interaction_later
    from stretch_starts
    window
        thread_so_far as (
            partition by customer_id, channel
            order by occurred_at, event_id
            rows between unbounded preceding and current row
        ),
        thread_after as (
            partition by customer_id, channel
            order by occurred_at, event_id
            rows between 1 following and unbounded following
        )

),

conversations as (

    -- a stretch with a customer interaction is a conversation
    select
        *,
        case when interaction_so_far or interaction_later then stretch_id end as conversation_id
    from stretches

),

final as (

    select
        -- ids
        event_id,
        conversation_id,
        stretch_id,
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
        cast(stretch_position as {{ dbt.type_bigint() }}) as stretch_position,
        cast(open_handovers_before as {{ dbt.type_bigint() }}) as open_handovers_before,

        -- booleans
        is_customer_interaction,
        starts_stretch,
        coalesce(starts_stretch and conversation_id is not null, false) as starts_conversation,

        -- timestamps
        occurred_at,
        epoch_started_at,
        {{ to_local_timestamp('occurred_at') }} as occurred_local_at,
        cast({{ to_local_timestamp('occurred_at') }} as date) as occurred_local_date,

        -- lineage
        _arrival_date,
        _loaded_at,
        {{ chat_analytics.processed_load_seq() }} as _processed_load_seq

    from conversations

)

-- Not sorted: ordering 10 million wide rows was 18% of this model's CPU time at 10M events (issue 4
-- profile), while incremental runs filter on occurred_at column scans that stay cheap without it.
select * from final
