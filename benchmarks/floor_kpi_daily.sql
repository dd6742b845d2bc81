-- The floor of the benchmark: `kpi_daily` (SPEC §4) straight from the landing files, in plain DuckDB SQL,
-- with no framework, no raw layer, no lineage, no quarantine bookkeeping and no tests.
--
-- It applies the same validity rules as the loader (a line the pipeline quarantines is dropped here),
-- the same deduplication (earliest arrival folder, then file name; copies inside one file are byte-identical
-- redeliveries, so the line number is not needed to pick one), the sessionization of conversations version 2
-- (docs/metrics.md: idle gaps with the open-handover exemption, closes, the handover timeout), engagement,
-- handover outcomes, replies and closes.
--
-- Placeholders, substituted by benchmarks/floor.py: ${landing_glob}, ${timezone}, ${inactivity_minutes},
-- ${handover_timeout_seconds}.

set TimeZone = 'UTC';

-- 1. Valid events, one copy per event_id. Every line is read as text (the CSV reader skips invalid UTF-8);
--    valid JSON objects are parsed twice: once for the JSON types of the known fields, once for their values.
create temp table events as
with lines as (
    select filename, line
    from read_csv(
        '${landing_glob}',
        columns = {'line': 'VARCHAR'}, header = false, auto_detect = false,
        delim = chr(1), quote = '', escape = '',   -- one column: the whole line
        ignore_errors = true, strict_mode = false, max_line_size = 16777216, filename = true
    )
),
-- MATERIALIZED: inlined, the filters below would repeat the two parses once per field they test
fields as materialized (
    select
        filename,
        json_type(line, ['$.event_id', '$.occurred_at', '$.customer_id', '$.channel', '$.event_type',
                         '$.sender', '$.message_type', '$.handover_id', '$.agent_id', '$.department',
                         '$.flow_type', '$.text', '$.properties']) as t,
        json_extract_string(line, ['$.event_id', '$.occurred_at', '$.customer_id', '$.channel', '$.event_type',
                                   '$.sender', '$.message_type', '$.handover_id', '$.flow_type']) as v
    from lines
    where json_valid(line) and starts_with(ltrim(line, ' ' || chr(9) || chr(13)), '{')
        -- DuckDB's parser accepts trailing commas and NaN / Infinity, RFC 8259 (and the loader) does not:
        -- a cheap pre-test, then, for the few lines it flags, the exact test with string literals blanked
        -- (a "NaN" inside a text is fine). CASE evaluates the expensive branch for those lines only.
        and case
            when regexp_matches(line, ',\s*[\]}]') or contains(line, 'NaN') or contains(line, 'Infinity')
                then not regexp_matches(regexp_replace(line, '"(?:[^"\\]|\\.)*"', '""', 'g'),
                                        ',\s*[\]}]|\bNaN\b|\bInfinity\b')
            else true
        end
),
checked as (
    select
        cast(regexp_extract(filename, '(\d{4}-\d{2}-\d{2})[/\\][^/\\]*$', 1) as date) as arrival_date,
        regexp_extract(filename, '[^/\\]*$') as file_name,
        v[1] as event_id,
        v[3] as customer_id,
        lower(trim(v[4])) as channel,
        v[5] as event_type,
        v[6] as sender,
        coalesce(nullif(trim(v[7]), ''), 'text') as message_type,
        case when trim(v[8]) = '' then null else v[8] end as handover_id,
        case when trim(v[9]) = '' then null else v[9] end as flow_type,
        case when regexp_full_match(v[2], '^\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})$')
            then try_cast(regexp_replace(upper(v[2]), '(\.\d{6})\d+', '\1') as timestamptz)
        end as occurred_at
    from fields
    where t[1] = 'VARCHAR' and trim(v[1]) <> ''        -- required strings, not blank
        and t[2] = 'VARCHAR' and trim(v[2]) <> ''
        and t[3] = 'VARCHAR' and trim(v[3]) <> ''
        and t[4] = 'VARCHAR' and trim(v[4]) <> ''
        and t[5] = 'VARCHAR' and trim(v[5]) <> ''
        and coalesce(t[6], 'NULL') in ('VARCHAR', 'NULL')   -- optional strings
        and coalesce(t[7], 'NULL') in ('VARCHAR', 'NULL')
        and coalesce(t[8], 'NULL') in ('VARCHAR', 'NULL')
        and coalesce(t[9], 'NULL') in ('VARCHAR', 'NULL')
        and coalesce(t[10], 'NULL') in ('VARCHAR', 'NULL')
        and coalesce(t[11], 'NULL') in ('VARCHAR', 'NULL')
        and coalesce(t[12], 'NULL') in ('VARCHAR', 'NULL')
        and coalesce(t[13], 'NULL') in ('OBJECT', 'NULL')   -- properties
        and v[5] in ('message', 'handover_requested', 'handover_received', 'handover_cancelled',
                     'handover_disabled', 'handover_incomplete', 'conversation_closed')
        and (v[5] <> 'message' or v[6] in ('customer', 'bot', 'agent'))
        and (v[5] = 'message' or trim(coalesce(v[8], '')) <> '')
)
select event_id, customer_id, channel, event_type, sender, message_type, handover_id, flow_type, occurred_at
from checked
where occurred_at >= timestamptz '2000-01-01 00:00:00+00'
    and occurred_at < (arrival_date + interval 3 day)::timestamptz
qualify row_number() over (partition by event_id order by arrival_date, file_name) = 1;

-- 2. Sessionization, version 2 (docs/metrics.md), per thread (customer_id, channel) in (occurred_at, event_id)
--    order. Epochs: runs of events without a silence longer than the handover timeout. A handover opens at its
--    first reception of the epoch before its first close in the thread, and is open until that close or the
--    epoch's end. A stretch begins at the thread's first event, after a close, after more than the inactivity
--    with nothing open, and after more than the timeout; a stretch with a customer interaction is a conversation.
create temp table ordered as
with positioned as (
    select
        *,
        row_number() over w as pos,
        lag(occurred_at) over w as previous_event_at,
        lag(event_type) over w as previous_event_type,
        (event_type = 'message' and sender = 'customer') or event_type = 'handover_requested' as is_interaction
    from events
    window w as (partition by customer_id, channel order by occurred_at, event_id)
)
select
    *,
    sum((previous_event_at is null
         or occurred_at > previous_event_at + interval (${handover_timeout_seconds}) second)::int)
        over (partition by customer_id, channel order by pos rows between unbounded preceding and current row)
        as epoch
from positioned;

create temp table open_changes as
with state_events as (
    select customer_id, channel, handover_id, epoch, event_type, pos
    from ordered
    where handover_id is not null and event_type in ('handover_received', 'conversation_closed')
),
first_closes as (
    select customer_id, channel, handover_id, min(pos) as close_pos, arg_min(epoch, pos) as close_epoch
    from state_events where event_type = 'conversation_closed'
    group by all
),
openings as (
    select state_events.customer_id, state_events.channel, state_events.handover_id, state_events.epoch,
        min(state_events.pos) as open_pos, any_value(first_closes.close_pos) as close_pos,
        any_value(first_closes.close_epoch) as close_epoch
    from state_events
    left join first_closes using (customer_id, channel, handover_id)
    where state_events.event_type = 'handover_received'
        and (first_closes.close_pos is null or state_events.pos < first_closes.close_pos)
    group by all
)
select customer_id, channel, open_pos as pos, 1 as open_change from openings
union all
select customer_id, channel, close_pos as pos, -1 as open_change from openings where close_epoch = epoch;

create temp table sessionized as
with with_open as (
    select
        ordered.*,
        coalesce(sum(coalesce(open_changes.open_change, 0)) over (
            partition by ordered.customer_id, ordered.channel, ordered.epoch order by ordered.pos
            rows between unbounded preceding and 1 preceding), 0) as open_before
    from ordered
    left join open_changes using (customer_id, channel, pos)
)
select
    *,
    sum((previous_event_at is null
         or previous_event_type = 'conversation_closed'
         or (occurred_at > previous_event_at + interval (${inactivity_minutes}) minute and open_before = 0)
         or occurred_at > previous_event_at + interval (${handover_timeout_seconds}) second)::int)
        over (partition by customer_id, channel order by pos rows between unbounded preceding and current row)
        as stretch
from with_open;

-- 3. Conversations (stretches with a customer interaction): bounds, engagement, chatbot duration, start date.
create temp table conversations as
with per_stretch as (
    select
        customer_id,
        channel,
        min(occurred_at) as started_at,
        max(occurred_at) as ended_at,
        min(pos) as opening_pos,
        bool_or(is_interaction) as has_interaction,
        min(pos) filter (where event_type = 'message' and message_type = 'welcome') as welcome_pos,
        max(pos) filter (where is_interaction
                         or (event_type = 'message' and sender = 'agent' and message_type <> 'internal_note'))
            as last_engaging_pos,
        min(occurred_at) filter (where event_type = 'handover_received') as first_received_at
    from sessionized
    group by customer_id, channel, stretch
)
select
    customer_id,
    channel,
    cast(timezone('${timezone}', started_at) as date) as report_date,
    coalesce(last_engaging_pos > coalesce(welcome_pos, opening_pos), false) as is_engaged,
    (epoch_us(coalesce(first_received_at, ended_at)) - epoch_us(started_at)) / 1e6 as chatbot_duration_seconds
from per_stretch
where has_interaction;

-- 4. Handover requests (matched by handover_id alone), their reception, replies and first close.
create temp table handovers as
with handover_events as (
    select handover_id, event_id, channel, event_type, sender, message_type, occurred_at
    from events
    where handover_id is not null
),
requests as (
    select handover_id, arg_min(channel, (occurred_at, event_id)) as channel
    from handover_events
    where event_type = 'handover_requested'
    group by handover_id
),
per_handover as (
    select
        handover_id,
        min(occurred_at) filter (where event_type = 'handover_received') as received_at,
        min(occurred_at) filter (where event_type = 'conversation_closed') as closed_at
    from handover_events
    group by handover_id
)
select requests.handover_id, requests.channel, per_handover.received_at, per_handover.closed_at
from requests
inner join per_handover using (handover_id);

create temp table replies as
select handovers.handover_id, handovers.channel, handovers.received_at, events.occurred_at as replied_at
from events
inner join handovers using (handover_id)
where events.event_type = 'message' and events.sender = 'agent' and events.message_type <> 'internal_note'
    and events.occurred_at >= handovers.received_at;

-- 5. kpi_daily: every local date of the data x every channel, zeros included.
create table kpi_daily as
with bounds as (
    select
        min(cast(timezone('${timezone}', occurred_at) as date)) as first_date,
        max(cast(timezone('${timezone}', occurred_at) as date)) as last_date
    from events
),
spine as (
    select cast(unnest(generate_series(first_date::timestamp, last_date::timestamp, interval 1 day)) as date)
        as report_date
    from bounds
),
channels as (select distinct channel from events),
conversation_measures as (
    select
        report_date, channel,
        count(*) as total_conversations,
        count(*) filter (where is_engaged) as engaged_conversations,
        count(distinct customer_id) filter (where is_engaged) as engaged_customers,
        sum(chatbot_duration_seconds) filter (where is_engaged) as chatbot_duration_seconds_sum
    from conversations
    group by all
),
transfer_measures as (
    select cast(timezone('${timezone}', received_at) as date) as report_date, channel,
        count(*) as successful_transfers
    from handovers where received_at is not null
    group by all
),
closed_measures as (
    select cast(timezone('${timezone}', closed_at) as date) as report_date, channel,
        count(*) as closed_conversations
    from handovers where closed_at is not null
    group by all
),
answered_measures as (
    select cast(timezone('${timezone}', replied_at) as date) as report_date, channel,
        count(distinct handover_id) as answered_conversations
    from replies
    group by all
),
wait_measures as (
    select cast(timezone('${timezone}', first_reply_at) as date) as report_date, channel,
        sum((epoch_us(first_reply_at) - epoch_us(received_at)) / 1e6) as initial_wait_seconds_sum,
        count(*) as initial_wait_count
    from (
        select handover_id, channel, received_at, min(replied_at) as first_reply_at
        from replies group by all
    )
    group by all
)
select
    spine.report_date,
    channels.channel,
    coalesce(total_conversations, 0) as total_conversations,
    coalesce(engaged_conversations, 0) as engaged_conversations,
    coalesce(engaged_customers, 0) as engaged_customers,
    coalesce(successful_transfers, 0) as successful_transfers,
    coalesce(answered_conversations, 0) as answered_conversations,
    coalesce(closed_conversations, 0) as closed_conversations,
    coalesce(initial_wait_seconds_sum, 0)::double as initial_wait_seconds_sum,
    coalesce(initial_wait_count, 0) as initial_wait_count,
    (initial_wait_seconds_sum / nullif(initial_wait_count, 0))::double as avg_initial_wait_seconds,
    coalesce(chatbot_duration_seconds_sum, 0)::double as chatbot_duration_seconds_sum,
    (chatbot_duration_seconds_sum / nullif(engaged_conversations, 0))::double as avg_chatbot_duration_seconds
from spine
cross join channels
left join conversation_measures using (report_date, channel)
left join transfer_measures using (report_date, channel)
left join closed_measures using (report_date, channel)
left join answered_measures using (report_date, channel)
left join wait_measures using (report_date, channel)
order by report_date, channel;
