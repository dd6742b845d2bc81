{#
    The metric rules of the definitions (docs/metrics.md, SPEC §3), each written once. Every model
    that needs a rule calls its macro, in full and incremental runs alike: a change of a rule is an
    edit of this file. Arguments name the columns (or a table alias prefix) the rule reads.
#}

{# A customer interaction: a customer message (any message_type) or a handover_requested. #}
{% macro is_customer_interaction(prefix='') -%}
    coalesce(
        ({{ prefix }}event_type = 'message' and {{ prefix }}sender = 'customer')
        or {{ prefix }}event_type = 'handover_requested',
        false
    )
{%- endmacro %}


{# An agent message the customer sees: every agent message but an internal note. #}
{% macro is_visible_agent_message(prefix='') -%}
    coalesce(
        {{ prefix }}event_type = 'message'
        and {{ prefix }}sender = 'agent'
        and coalesce({{ prefix }}message_type, 'text') <> 'internal_note',
        false
    )
{%- endmacro %}


{# An event that engages its conversation when it comes after the welcome (or the opening). #}
{% macro is_engaging_event(prefix='') -%}
    ({{ chat_analytics.is_customer_interaction(prefix) }} or {{ chat_analytics.is_visible_agent_message(prefix) }})
{%- endmacro %}


{# The bot's welcome message (decision M10: the sender is not checked). #}
{% macro is_welcome_message(prefix='') -%}
    coalesce({{ prefix }}event_type = 'message' and {{ prefix }}message_type = 'welcome', false)
{%- endmacro %}


{# A bot message carrying a flow category: the candidates for the support type (decision M11). #}
{% macro is_bot_flow_message(prefix='') -%}
    coalesce(
        {{ prefix }}event_type = 'message' and {{ prefix }}sender = 'bot' and {{ prefix }}flow_type is not null,
        false
    )
{%- endmacro %}


{#
    Rule 4 (and the start of the thread): a silence of more than the handover timeout ends
    everything, open handovers included. The events between two such silences form an "epoch":
    nothing but a handover's first close carries from one epoch to the next (decision M19).
#}
{% macro starts_epoch(occurred_at, previous_event_at) -%}
    (
        {{ previous_event_at }} is null
        or {{ occurred_at }} > {{ chat_analytics.add_interval('second', chat_analytics.handover_timeout_seconds(), previous_event_at) }}
    )
{%- endmacro %}


{#
    Where a new stretch begins (SPEC §3 "Conversation", version 2):
      1. the thread's first event;
      2. the first event after a conversation_closed;
      3. more than the inactivity after the previous event, no handover of the thread open;
      4. more than the handover timeout after the previous event, whatever is open.
    Gaps are strict: exactly the limit does not cut.
#}
{% macro starts_stretch(occurred_at, previous_event_at, previous_event_type, open_handovers_before) -%}
    (
        {{ previous_event_at }} is null
        or {{ previous_event_type }} = 'conversation_closed'
        or (
            {{ occurred_at }} > {{ chat_analytics.add_interval('minute', chat_analytics.inactivity_minutes(), previous_event_at) }}
            and {{ open_handovers_before }} = 0
        )
        or {{ chat_analytics.starts_epoch(occurred_at, previous_event_at) }}
    )
{%- endmacro %}


{#
    A handover_received opens its handover unless the handover's first conversation_closed in the
    thread came before it (SPEC §3 "Open handover"); `first_close_*` are null when there is none.
#}
{% macro reception_opens_handover(occurred_at, event_id, first_close_at, first_close_event_id) -%}
    (
        {{ first_close_at }} is null
        or {{ occurred_at }} < {{ first_close_at }}
        or ({{ occurred_at }} = {{ first_close_at }} and {{ event_id }} < {{ first_close_event_id }})
    )
{%- endmacro %}


{# The outcome of a handover request: reception wins, else the first terminal event (decision M3). #}
{% macro handover_outcome(received_at, first_terminal_event_type) -%}
    case
        when {{ received_at }} is not null then 'successful'
        when {{ first_terminal_event_type }} = 'handover_cancelled' then 'cancelled'
        when {{ first_terminal_event_type }} = 'handover_disabled' then 'disabled'
        when {{ first_terminal_event_type }} = 'handover_incomplete' then 'incomplete'
        else 'pending'
    end
{%- endmacro %}


{# The events that can decide a request's outcome when it was never received. #}
{% macro terminal_handover_event_types() -%}
    ('handover_cancelled', 'handover_disabled', 'handover_incomplete')
{%- endmacro %}


{# An agent reply of a handover: a visible agent message at or after the handover's reception (M5). #}
{% macro is_agent_reply(prefix, received_at) -%}
    ({{ chat_analytics.is_visible_agent_message(prefix) }} and {{ prefix }}occurred_at >= {{ received_at }})
{%- endmacro %}


{# The department of a request: its first close's, else the request's, else 'unassigned' (M14). #}
{% macro handover_department(close_department, request_department) -%}
    coalesce({{ close_department }}, {{ request_department }}, 'unassigned')
{%- endmacro %}
