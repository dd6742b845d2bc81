-- Every closed handover request is counted once in closed_by_department, under its department.
-- The model this test checks: its asset check in Dagster (the test reads several models).
{{ config(meta={'dagster': {'ref': {'name': 'closed_by_department'}}}) }}
with

mart as (

    select department, sum(closed_conversations) as closed_conversations
    from {{ ref('closed_by_department') }}
    group by department

),

facts as (

    select department, count(*) as closed_conversations
    from {{ ref('fct_handover_requests') }}
    where closed_at is not null
    group by department

)

select
    coalesce(mart.department, facts.department) as department,
    coalesce(mart.closed_conversations, 0) as mart_closed,
    coalesce(facts.closed_conversations, 0) as fact_closed
from mart
full outer join facts
    on mart.department = facts.department
where coalesce(mart.closed_conversations, 0) <> coalesce(facts.closed_conversations, 0)
