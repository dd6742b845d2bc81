-- kpi_daily.answered_conversations is, per day and channel, the distinct requests in fct_agent_replies.
-- The model this test checks: its asset check in Dagster (the test reads several models).
{{ config(meta={'dagster': {'ref': {'name': 'kpi_daily'}}}) }}
with from_replies as (
    select reply_date as report_date, channel, count(distinct handover_id) as answered
    from {{ ref('fct_agent_replies') }}
    group by all
)
select kpi.report_date, kpi.channel, kpi.answered_conversations, coalesce(r.answered, 0) as from_replies
from {{ ref('kpi_daily') }} as kpi
left join from_replies as r
    on kpi.report_date = r.report_date and kpi.channel = r.channel
where kpi.answered_conversations <> coalesce(r.answered, 0)
