{#
    Bookkeeping tables kept next to the incremental models (see macros/incremental.sql), each
    written in the same transaction as the model it follows, by that model's post-hook:

      _incremental_event_days       (stg_chat__events) events per local date and channel: the
                                    dense marts' date spine and channel list without a scan of staging
      _incremental_thread_tails     (int_events_sessionized) one row per thread: the sessionization
                                    state after its last event, where a thread resumes on new events
      _incremental_handover_events  (int_events_sessionized) the sessionized events that carry a
                                    handover_id: handover requests, replies and orphans are recomputed
                                    per handover_id from it, and open handovers are looked up in it
#}

{#
    The sessionization state after an event of a thread (and the state before its first event).
    Thread part: events and conversations so far, the current conversation, the instant of the last
    event, whether a conversation_closed came after the last customer interaction.
    Conversation part (null before the thread's first interaction): the running summary of the
    current conversation, enough to finish int_conversations' row when the conversation continues.
#}
{% macro session_state_fields() -%}
    {{ return({
        'thread_position': ('bigint', '0'),
        'conversation_number': ('bigint', '0'),
        'conversation_id': ('varchar', 'null'),
        'last_event_at': ('timestamptz', 'null'),
        'closed_since_interaction': ('boolean', 'false'),
        'conversation_started_at': ('timestamptz', 'null'),
        'conversation_event_count': ('bigint', 'null'),
        'conversation_interaction_count': ('bigint', 'null'),
        'conversation_first_welcome_position': ('bigint', 'null'),
        'conversation_last_engaging_position': ('bigint', 'null'),
        'conversation_engaged_after_opening': ('boolean', 'null'),
        'conversation_first_received_at': ('timestamptz', 'null'),
        'conversation_last_flow_type': ('varchar', 'null'),
    }) }}
{%- endmacro %}

{# The initial state value of one field (full runs), as a typed SQL literal. #}
{% macro initial_session_value(field) -%}
    {%- set spec = chat_analytics.session_state_fields()[field] -%}
    cast({{ spec[1] }} as {{ spec[0] }})
{%- endmacro %}

{% macro initial_session_state() -%}
    struct_pack(
    {%- for field in chat_analytics.session_state_fields() %}
        {{ field }} := {{ chat_analytics.initial_session_value(field) }}{{ ',' if not loop.last }}
    {%- endfor %}
    )
{%- endmacro %}


{% macro handover_event_columns() -%}
    event_id, conversation_id, customer_id, handover_id, agent_id, channel, event_type, sender,
    message_type, department, occurred_at, occurred_local_date, _arrival_date, _loaded_at
{%- endmacro %}


{# The sessionized events carrying a handover_id: the bookkeeping copy in incremental runs. #}
{% macro handover_events_source(sessionized_relation) -%}
    {%- if chat_analytics.incremental_run() -%}
        (
            select {{ chat_analytics.handover_event_columns() }}
            from {{ chat_analytics.bookkeeping_relation('handover_events') }}
            where handover_id in (select handover_id from {{ chat_analytics.plan_relation('changed_handovers') }})
        )
    {%- else -%}
        {{ sessionized_relation }}
    {%- endif -%}
{%- endmacro %}


{# post-hook of stg_chat__events #}
{% macro maintain_event_days() %}
    {%- set event_days = chat_analytics.bookkeeping_relation('event_days') -%}
    {%- set local_date = 'cast(' ~ chat_analytics.to_local_timestamp('occurred_at') ~ ' as date)' -%}
    {%- if chat_analytics.incremental_run() -%}
        {%- set window = chat_analytics.load_window() %}
    create or replace temp table _incremental_changed_days as
        select distinct {{ local_date }} as local_date, channel
        from {{ chat_analytics.plan_relation('changed_events') }};
    delete from {{ event_days }} as event_days
        using _incremental_changed_days as changed
        where event_days.local_date = changed.local_date and event_days.channel = changed.channel;
    insert into {{ event_days }} (local_date, channel, events)
        select staged.local_date, staged.channel, count(*)
        from (
            select {{ local_date }} as local_date, channel
            from {{ this }}
            where occurred_at >= {{ window['min_changed_at'] }} - interval 2 day
                and occurred_at < {{ window['max_changed_at'] }} + interval 2 day
        ) as staged
        semi join _incremental_changed_days as changed
            on staged.local_date = changed.local_date and staged.channel = changed.channel
        group by staged.local_date, staged.channel;
    drop table _incremental_changed_days
    {%- else %}
    create or replace table {{ event_days }} as
        select {{ local_date }} as local_date, channel, count(*) as events
        from {{ this }}
        group by all
    {%- endif %}
{% endmacro %}


{# post-hook of int_events_sessionized #}
{% macro maintain_sessionization_bookkeeping() %}
    {%- set tails = chat_analytics.bookkeeping_relation('thread_tails') -%}
    {%- set handover_events = chat_analytics.bookkeeping_relation('handover_events') -%}
    {%- if chat_analytics.incremental_run() -%}
        {%- set window = chat_analytics.load_window() -%}
        {%- set changed_threads = chat_analytics.plan_relation('changed_threads') %}
    delete from {{ tails }} as tails
        using {{ changed_threads }} as changed
        where tails.customer_id = changed.customer_id and tails.channel = changed.channel;
    insert into {{ tails }} (customer_id, channel, last_event_at, state)
        select customer_id, channel, last_event_at, state
        from (
            with
            last_events_in_range as (
                select events.customer_id, events.channel, events.occurred_at as last_event_at,
                    events._state_after as state
                from {{ this }} as events
                inner join {{ changed_threads }} as changed
                    on events.customer_id = changed.customer_id and events.channel = changed.channel
                where events.occurred_at >= {{ window['min_range_start'] }}
                    and events.occurred_at >= changed.range_start
                qualify row_number() over (
                    partition by events.customer_id, events.channel
                    order by events.occurred_at desc, events.event_id desc
                ) = 1
            )
            select * from last_events_in_range
            union all
            -- no event left in the range: the thread ends where the range starts
            select restarts.customer_id, restarts.channel, restarts.state.last_event_at, restarts.state
            from {{ chat_analytics.plan_relation('thread_restarts') }} as restarts
            where restarts.state.thread_position > 0
                and not exists (
                    select 1 from last_events_in_range
                    where last_events_in_range.customer_id = restarts.customer_id
                        and last_events_in_range.channel = restarts.channel
                )
        );
    delete from {{ handover_events }} as handover_events
        using {{ changed_threads }} as changed
        where handover_events.customer_id = changed.customer_id
            and handover_events.channel = changed.channel
            and handover_events.occurred_at >= {{ window['min_range_start'] }}
            and handover_events.occurred_at >= changed.range_start;
    insert into {{ handover_events }} ({{ chat_analytics.handover_event_columns() }})
        select {{ chat_analytics.handover_event_columns() | replace('\n', ' ') }}
        from (
            select events.*
            from {{ this }} as events
            inner join {{ changed_threads }} as changed
                on events.customer_id = changed.customer_id and events.channel = changed.channel
            where events.occurred_at >= {{ window['min_range_start'] }}
                and events.occurred_at >= changed.range_start
                and events.handover_id is not null
        )
        order by occurred_at
    {%- else %}
    create or replace table {{ tails }} as
        select customer_id, channel, occurred_at as last_event_at, _state_after as state
        from {{ this }}
        qualify row_number() over (partition by customer_id, channel order by occurred_at desc, event_id desc) = 1;
    create or replace table {{ handover_events }} as
        select {{ chat_analytics.handover_event_columns() }}
        from {{ this }}
        where handover_id is not null
        order by occurred_at
    {%- endif %}
{% endmacro %}


{# An event that engages its conversation (SPEC §3): a customer interaction, or an agent message the customer sees. #}
{% macro is_engaging_event() -%}
    (
        (event_type = 'message' and sender = 'customer')
        or event_type = 'handover_requested'
        or (event_type = 'message' and sender = 'agent' and coalesce(message_type, 'text') <> 'internal_note')
    )
{%- endmacro %}
