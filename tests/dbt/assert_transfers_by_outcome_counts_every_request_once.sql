-- Every handover request is counted once in transfers_by_outcome, under its own outcome.
-- The model this test checks: its asset check in Dagster (the test reads several models).
{{ config(meta={'dagster': {'ref': {'name': 'transfers_by_outcome'}}}) }}
with

mart as (

    select outcome, sum(handover_requests) as handover_requests
    from {{ ref('transfers_by_outcome') }}
    group by outcome

),

facts as (

    select outcome, count(*) as handover_requests
    from {{ ref('fct_handover_requests') }}
    group by outcome

)

select
    coalesce(mart.outcome, facts.outcome) as outcome,
    coalesce(mart.handover_requests, 0) as mart_requests,
    coalesce(facts.handover_requests, 0) as fact_requests
from mart
full outer join facts
    on mart.outcome = facts.outcome
where coalesce(mart.handover_requests, 0) <> coalesce(facts.handover_requests, 0)
