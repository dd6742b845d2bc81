-- Every conversation is counted once in conversations_by_channel, under its support type.
-- The model this test checks: its asset check in Dagster (the test reads several models).
{{ config(meta={'dagster': {'ref': {'name': 'conversations_by_channel'}}}) }}
with

mart as (

    select
        support_type,
        sum(total_conversations) as total_conversations,
        sum(engaged_conversations) as engaged_conversations
    from {{ ref('conversations_by_channel') }}
    group by support_type

),

facts as (

    select
        support_type,
        count(*) as total_conversations,
        count(case when is_engaged then 1 end) as engaged_conversations
    from {{ ref('fct_conversations') }}
    group by support_type

)

select
    coalesce(mart.support_type, facts.support_type) as support_type,
    mart.total_conversations as mart_total,
    facts.total_conversations as fact_total,
    mart.engaged_conversations as mart_engaged,
    facts.engaged_conversations as fact_engaged
from mart
full outer join facts
    on mart.support_type = facts.support_type
where
    coalesce(mart.total_conversations, 0) <> coalesce(facts.total_conversations, 0)
    or coalesce(mart.engaged_conversations, 0) <> coalesce(facts.engaged_conversations, 0)
