{{ config(severity='warn') }}
-- Reports (warns, never fails) the events whose handover request has not arrived yet:
-- they are kept in int_handover_orphan_events and join their request when it arrives.
select
    handover_id,
    event_type,
    count(*) as orphan_events
from {{ ref('int_handover_orphan_events') }}
group by handover_id, event_type
