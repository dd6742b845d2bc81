-- Every fact row is counted once in kpi_daily (its additive columns), whatever the date.
-- The model this test checks: its asset check in Dagster (the test reads several models).
{{ config(meta={'dagster': {'ref': {'name': 'kpi_daily'}}}) }}
with

kpi as (

    select
        sum(total_conversations) as total_conversations,
        sum(engaged_conversations) as engaged_conversations,
        sum(successful_transfers) as successful_transfers,
        sum(closed_conversations) as closed_conversations,
        sum(initial_wait_count) as initial_wait_count
    from {{ ref('kpi_daily') }}

),

conversations as (

    select
        count(*) as total_conversations,
        count(case when is_engaged then 1 end) as engaged_conversations
    from {{ ref('fct_conversations') }}

),

requests as (

    select
        count(received_at) as successful_transfers,
        count(closed_at) as closed_conversations,
        count(initial_wait_seconds) as initial_wait_count
    from {{ ref('fct_handover_requests') }}

)

select *
from kpi
cross join conversations
cross join requests
where
    coalesce(kpi.total_conversations, 0) <> conversations.total_conversations
    or coalesce(kpi.engaged_conversations, 0) <> conversations.engaged_conversations
    or coalesce(kpi.successful_transfers, 0) <> requests.successful_transfers
    or coalesce(kpi.closed_conversations, 0) <> requests.closed_conversations
    or coalesce(kpi.initial_wait_count, 0) <> requests.initial_wait_count
