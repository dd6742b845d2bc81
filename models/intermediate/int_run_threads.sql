{#
    The threads an incremental run recomputes, and from where (decision O6). A thread's events before
    its earliest changed instant are unchanged, and so is their sessionization (every rule looks only
    backwards). Rule 4 resets everything but a handover's first close, so the thread is recomputed from
    the start of the epoch holding its last unchanged event (`epoch_started_at` as the last run stored
    it), to the thread's end. When no event precedes the changed instant, or the silence before it is
    longer than the handover timeout, the changed instant starts an epoch itself and the range starts
    there: a customer back after days costs only the new events, not a replay of the old epoch
    (a 90-day history was otherwise read whole for the threads of returning customers). Empty in a
    full run.

    `int_events_sessionized` is read as the last run left it, without `ref`: this model decides what
    that one rebuilds, so it runs before it (the sessionization refs this model).
#}
{{ config(materialized='table') }}

with

changed_threads as (

    select
        customer_id,
        channel,
        min(occurred_at) as first_changed_at
    from {{ ref('stg_chat__event_changes') }}
    group by customer_id, channel

),

{%- if chat_analytics.incremental_run() %}

stored_epoch_starts as (

    select
        stored.customer_id,
        stored.channel,
        max(stored.epoch_started_at) as epoch_started_at,
        max(stored.occurred_at) as last_unchanged_at
    from {{ chat_analytics.model_relation('int_events_sessionized') }} as stored
    inner join changed_threads
        on stored.customer_id = changed_threads.customer_id
        and stored.channel = changed_threads.channel
    where stored.occurred_at < changed_threads.first_changed_at
    group by stored.customer_id, stored.channel

),

{%- else %}

stored_epoch_starts as (

    -- a full run has no changes and no stored state to read
    select customer_id, channel, first_changed_at as epoch_started_at, first_changed_at as last_unchanged_at
    from changed_threads
    where false

),

{%- endif %}

final as (

    select
        -- ids
        changed_threads.customer_id,
        changed_threads.channel,

        -- timestamps
        changed_threads.first_changed_at,
        stored_epoch_starts.last_unchanged_at,
        -- the first event at or after the changed instant then starts an epoch (rule 4) in the new state
        case
            when {{ chat_analytics.starts_epoch('changed_threads.first_changed_at', 'stored_epoch_starts.last_unchanged_at') }}
                then changed_threads.first_changed_at
            else stored_epoch_starts.epoch_started_at
        end as range_start

    from changed_threads
    left join stored_epoch_starts
        on changed_threads.customer_id = stored_epoch_starts.customer_id
        and changed_threads.channel = stored_epoch_starts.channel

)

select * from final
