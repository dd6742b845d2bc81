-- Nothing lost between raw and staging: one staged row per distinct raw event_id,
-- and no staged event that raw does not have. Returns a row when the counts differ.
with

raw_events as (

    select count(distinct event_id) as event_count
    from {{ source('raw', 'chat_events') }}

),

staged_events as (

    select count(*) as event_count
    from {{ ref('stg_chat__events') }}

)

select
    raw_events.event_count as raw_distinct_events,
    staged_events.event_count as staged_events
from raw_events
cross join staged_events
where raw_events.event_count <> staged_events.event_count
