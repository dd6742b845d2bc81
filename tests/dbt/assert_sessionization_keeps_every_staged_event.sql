-- Nothing lost in sessionization: every staged event appears once in int_events_sessionized,
-- and every conversation is opened by exactly one of its events.
-- The model this test checks: its asset check in Dagster (the test reads several models).
{{ config(meta={'dagster': {'ref': {'name': 'int_events_sessionized'}}}) }}
with

staged as (

    select count(*) as row_count from {{ ref('stg_chat__events') }}

),

sessionized as (

    select
        count(*) as row_count,
        count(case when starts_conversation then 1 end) as conversation_starts
    from {{ ref('int_events_sessionized') }}

),

conversations as (

    select count(*) as row_count from {{ ref('int_conversations') }}

)

select
    staged.row_count as staged_events,
    sessionized.row_count as sessionized_events,
    sessionized.conversation_starts,
    conversations.row_count as conversations
from staged
cross join sessionized
cross join conversations
where
    staged.row_count <> sessionized.row_count
    or sessionized.conversation_starts <> conversations.row_count
