-- Every engaged conversation and every handover request is counted once in activity_by_weekday_hour.
-- The model this test checks: its asset check in Dagster (the test reads several models).
{{ config(meta={'dagster': {'ref': {'name': 'activity_by_weekday_hour'}}}) }}
with

mart as (

    select
        coalesce(sum(engaged_conversations), 0) as engaged_conversations,
        coalesce(sum(handover_requests), 0) as handover_requests
    from {{ ref('activity_by_weekday_hour') }}

),

conversations as (

    select count(*) as engaged_conversations
    from {{ ref('fct_conversations') }}
    where is_engaged

),

requests as (

    select count(*) as handover_requests
    from {{ ref('fct_handover_requests') }}

)

select *
from mart
cross join conversations
cross join requests
where
    mart.engaged_conversations <> conversations.engaged_conversations
    or mart.handover_requests <> requests.handover_requests
