-- depends_on: {{ ref('stg_chat__event_changes') }}
-- Nothing lost between raw and staging: one staged row per distinct raw event_id,
-- and no staged event that raw does not have. Returns a row when the counts differ.
-- In an incremental build, the same for the events the run changed: each is staged exactly
-- once if raw still holds a winning copy of it (in a partition its changes name), else not at all.
-- The model this test checks: its asset check in Dagster (the test reads several models).
{{ config(meta={'dagster': {'ref': {'name': 'stg_chat__events'}}}) }}
{%- set incremental = chat_analytics.incremental_test_run() %}
{%- if incremental %}
    {%- set window = chat_analytics.load_window() %}
    {%- set bounds = chat_analytics.change_bounds() %}
{%- endif %}
with

{%- if incremental %}

changed_events as (

    select distinct event_id
    from {{ ref('stg_chat__event_changes') }}

),
{%- endif %}

raw_events as (

    select count(distinct event_id) as event_count
    from {{ source('raw', 'chat_events') }}
    {%- if incremental %}
    where _arrival_date between {{ bounds['min_added_arrival'] }} and {{ bounds['max_added_arrival'] }}
        and not _is_duplicate
        and event_id in (select event_id from changed_events)
    {%- endif %}

),

staged_events as (

    select count(*) as event_count
    from {{ ref('stg_chat__events') }}
    {%- if incremental %}
    where _processed_load_seq > {{ window['previous_load_seq'] }}
        and event_id in (select event_id from changed_events)
    {%- endif %}

)

select
    raw_events.event_count as raw_distinct_events,
    staged_events.event_count as staged_events
from raw_events
cross join staged_events
where raw_events.event_count <> staged_events.event_count
