{#
    Handover requests (SPEC §3 "Handover request"): one per handover_id with a
    handover_requested event, its first by (occurred_at, event_id). Outcome, reception,
    close and replies are matched by handover_id alone (decision M4).

    Incremental (decision O8): the changed handover requests are replaced: those with a changed
    event, and those with an event in a recomputed thread range (the request's conversation may
    change). Orphan events join their request as soon as it arrives, as the request's id is changed.
#}
-- depends_on: {{ ref('int_run_handovers') }}
{{ config(
    replace_where="{{ chat_analytics.in_recomputed_handovers('target_rows') }}",
    removal_log_columns=[
        'handover_id', 'channel', 'requested_date', 'received_date', 'first_agent_reply_date', 'closed_date',
    ],
) }}

with

handover_events as (

    select
        event_id,
        conversation_id,
        customer_id,
        handover_id,
        agent_id,
        channel,
        event_type,
        department,
        occurred_at
    from {{ ref('int_handover_events') }} as handover_events
    where {{ chat_analytics.in_recomputed_handovers('handover_events') }}

),

agent_replies as (

    select
        handover_id,
        replied_at
    from {{ ref('int_handover_agent_replies') }} as agent_replies
    where {{ chat_analytics.in_recomputed_handovers('agent_replies') }}

),

ranked_requests as (

    select
        *,
        row_number() over (partition by handover_id order by occurred_at, event_id) as request_rank
    from handover_events
    where event_type = 'handover_requested'

),

requests as (

    select * from ranked_requests
    where request_rank = 1

),

request_counts as (

    select
        handover_id,
        count(*) as request_event_count
    from ranked_requests
    group by handover_id

),

receptions as (

    select
        handover_id,
        min(occurred_at) as received_at
    from handover_events
    where event_type = 'handover_received'
    group by handover_id

),

ranked_terminal_events as (

    -- decision M3: the earliest of cancelled / disabled / incomplete decides
    select
        handover_id,
        event_type,
        row_number() over (partition by handover_id order by occurred_at, event_id) as terminal_rank
    from handover_events
    where event_type in {{ chat_analytics.terminal_handover_event_types() }}

),

first_terminal_events as (

    select
        handover_id,
        event_type as first_terminal_event_type
    from ranked_terminal_events
    where terminal_rank = 1

),

ranked_closes as (

    select
        handover_id,
        agent_id,
        department,
        occurred_at,
        row_number() over (partition by handover_id order by occurred_at, event_id) as close_rank
    from handover_events
    where event_type = 'conversation_closed'

),

first_closes as (

    select
        handover_id,
        agent_id as closed_by_agent_id,
        department as close_department,
        occurred_at as closed_at
    from ranked_closes
    where close_rank = 1

),

reply_summary as (

    select
        handover_id,
        count(*) as agent_reply_count,
        min(replied_at) as first_agent_reply_at
    from agent_replies
    group by handover_id

),

joined as (

    select
        requests.handover_id,
        requests.event_id as request_event_id,
        requests.conversation_id,
        requests.customer_id,
        requests.channel,
        requests.department as request_department,
        requests.occurred_at as requested_at,
        request_counts.request_event_count,
        receptions.received_at,
        first_terminal_events.first_terminal_event_type,
        reply_summary.agent_reply_count,
        reply_summary.first_agent_reply_at,
        first_closes.closed_at,
        first_closes.closed_by_agent_id,
        first_closes.close_department
    from requests
    inner join request_counts
        on requests.handover_id = request_counts.handover_id
    left join receptions
        on requests.handover_id = receptions.handover_id
    left join first_terminal_events
        on requests.handover_id = first_terminal_events.handover_id
    left join reply_summary
        on requests.handover_id = reply_summary.handover_id
    left join first_closes
        on requests.handover_id = first_closes.handover_id

),

final as (

    select
        -- ids
        handover_id,
        request_event_id,
        conversation_id,
        customer_id,
        closed_by_agent_id,

        -- strings
        channel,
        {{ chat_analytics.handover_outcome('received_at', 'first_terminal_event_type') }} as outcome,
        {{ chat_analytics.handover_department('close_department', 'request_department') }} as department,

        -- numerics
        request_event_count,
        coalesce(agent_reply_count, 0) as agent_reply_count,
        {{ seconds_between('received_at', 'first_agent_reply_at') }} as initial_wait_seconds,
        {{ hour_of(to_local_timestamp('requested_at')) }} as requested_hour_of_day,

        -- timestamps and local dates
        requested_at,
        received_at,
        first_agent_reply_at,
        closed_at,
        {{ to_local_timestamp('requested_at') }} as requested_local_at,
        cast({{ to_local_timestamp('requested_at') }} as date) as requested_date,
        cast({{ to_local_timestamp('received_at') }} as date) as received_date,
        cast({{ to_local_timestamp('first_agent_reply_at') }} as date) as first_agent_reply_date,
        cast({{ to_local_timestamp('closed_at') }} as date) as closed_date,

        -- lineage
        {{ chat_analytics.processed_load_seq() }} as _processed_load_seq

    from joined

)

select * from final
