{#
    Incremental processing (decisions O4-O9 in docs/decisions.md).

    The loader gives every partition load a sequence number and records in raw.event_changes the
    winning copies it removed or added. A dbt run processes the changes above the last load sequence
    that a complete, successful run processed (the watermark), so new data is found by load, never by
    event time:

      on-run-start   `plan_incremental_run` decides the run's mode (full or incremental), and in
                     incremental mode writes the run's plan: the changed events, the changed threads
                     with the instant from which each is recomputed, the sessionization state at that
                     instant, and the changed handover requests.
      models         read the plan (`plan_relation`) and recompute only what it names; the custom
                     incremental strategy `replace_affected` deletes the affected rows (a predicate per
                     model) and inserts the recomputed ones in one transaction, and logs the keys of
                     the rows it deleted (`removal_log_columns`) for the models downstream.
      on-run-end     `record_incremental_run` advances the watermark only when every incremental model
                     was built and no node errored, failed or was skipped: a failed run is redone whole
                     by the next one.

    Every bookkeeping table lives in schema `intermediate` and starts with `_incremental_`.
#}

{# Bump when the incremental state's meaning changes: the next run then rebuilds everything. #}
{% macro incremental_logic_version() -%}
    {{ return('1') }}
{%- endmacro %}


{% macro bookkeeping_relation(name) -%}
    {{ return(api.Relation.create(database=target.database, schema='intermediate', identifier='_incremental_' ~ name)) }}
{%- endmacro %}


{# The plan tables written by on-run-start for the current run. #}
{% macro plan_relation(name) -%}
    {{ return(chat_analytics.bookkeeping_relation(name)) }}
{%- endmacro %}


{# Keys (and report dates) of the rows a model deleted, for the models downstream. #}
{% macro removal_log_relation(relation) -%}
    {{ return(relation.incorporate(path={'identifier': relation.identifier ~ '__removed'})) }}
{%- endmacro %}


{# The relation of a model of this project, found by name (hooks have no `ref`). #}
{% macro model_relation(model_name) -%}
    {% for node in graph.nodes.values() if node.resource_type == 'model' and node.name == model_name %}
        {{ return(api.Relation.create(database=target.database, schema=node.schema, identifier=node.alias)) }}
    {% endfor %}
    {{ exceptions.raise_compiler_error('unknown model ' ~ model_name) }}
{%- endmacro %}


{% macro raw_relation(identifier) -%}
    {{ return(api.Relation.create(database=target.database, schema='raw', identifier=identifier)) }}
{%- endmacro %}


{% macro relation_exists(relation) -%}
    {#- information_schema, not dbt's relation cache: bookkeeping tables are created by hooks -#}
    {% set found = run_query(
        "select count(*) from information_schema.tables where table_catalog = "
        ~ chat_analytics.quoted_literal(relation.database) ~ " and table_schema = "
        ~ chat_analytics.quoted_literal(relation.schema) ~ " and table_name = "
        ~ chat_analytics.quoted_literal(relation.identifier)
    ) %}
    {{ return(found.columns[0].values()[0] > 0) }}
{%- endmacro %}


{#
    What the stored models depend on besides raw data: the settings and the models' code (the
    checksums of their SQL files). A change of either makes the next run full.
#}
{% macro incremental_settings_fingerprint() -%}
    {%- set checksums = [] -%}
    {%- for node in graph.nodes.values() | sort(attribute='unique_id') if node.resource_type == 'model' -%}
        {%- do checksums.append(node.unique_id ~ '=' ~ node.checksum.checksum) -%}
    {%- endfor -%}
    {{ return(
        'timezone=' ~ chat_analytics.reporting_timezone()
        ~ ';inactivity_minutes=' ~ chat_analytics.inactivity_minutes()
        ~ ';logic=' ~ chat_analytics.incremental_logic_version()
        ~ ';models=' ~ local_md5(checksums | join(','))
    ) }}
{%- endmacro %}


{# SQL literals of optional values read from the plan. #}
{% macro timestamptz_literal(value) -%}
    {%- if value is none -%}cast(null as timestamptz){%- else -%}cast({{ chat_analytics.quoted_literal(value) }} as timestamptz){%- endif -%}
{%- endmacro %}

{% macro date_literal(value) -%}
    {%- if value is none -%}cast(null as date){%- else -%}cast({{ chat_analytics.quoted_literal(value) }} as date){%- endif -%}
{%- endmacro %}


{#
    The current run's window, as planned by on-run-start:
      mode                'incremental' or 'full'
      previous_load_seq   the watermark: every load up to it is reflected in the models
      load_seq            the last load this run processes
      min_range_start ... bounds of the changes, as SQL literals, for zone-map pruning
    Outside a planned `dbt build` / `dbt run` (compile, docs, a plain `dbt test`) the mode is 'full'.
#}
{% macro load_window() -%}
    {%- set cache_key = '_chat_analytics_incremental_window' -%}
    {%- if execute and graph.get(cache_key, {}).get('invocation_id') == invocation_id -%}
        {#- read once per invocation: the plan does not change during a run -#}
        {{ return(graph[cache_key]) }}
    {%- endif -%}
    {%- set window = {
        'invocation_id': none, 'mode': 'full', 'reason': 'not planned', 'previous_load_seq': 0, 'load_seq': 0,
        'min_range_start': 'cast(null as timestamptz)', 'min_changed_at': 'cast(null as timestamptz)',
        'max_changed_at': 'cast(null as timestamptz)', 'min_added_arrival': 'cast(null as date)',
        'max_added_arrival': 'cast(null as date)'
    } -%}
    {%- if not execute -%}{{ return(window) }}{%- endif -%}
    {%- set relation = chat_analytics.bookkeeping_relation('window') -%}
    {%- if not chat_analytics.relation_exists(relation) -%}{{ return(window) }}{%- endif -%}
    {%- set result = run_query(
        "select mode, reason, previous_load_seq, load_seq, min_range_start, min_changed_at, max_changed_at, "
        ~ "min_added_arrival, max_added_arrival from " ~ relation
        ~ " where invocation_id = " ~ chat_analytics.quoted_literal(invocation_id)
    ) -%}
    {%- if result.rows | length == 0 -%}{{ return(window) }}{%- endif -%}
    {%- set row = result.rows[0] -%}
    {%- do window.update({
        'invocation_id': invocation_id, 'mode': row[0], 'reason': row[1],
        'previous_load_seq': row[2], 'load_seq': row[3],
        'min_range_start': chat_analytics.timestamptz_literal(row[4]),
        'min_changed_at': chat_analytics.timestamptz_literal(row[5]),
        'max_changed_at': chat_analytics.timestamptz_literal(row[6]),
        'min_added_arrival': chat_analytics.date_literal(row[7]),
        'max_added_arrival': chat_analytics.date_literal(row[8])
    }) -%}
    {%- do graph.update({cache_key: window}) -%}
    {{ return(window) }}
{%- endmacro %}


{#
    dbt's `should_full_refresh`, extended: in a run planned as full (first run, settings or model
    code changed, raw rebuilt...) every incremental model is rebuilt like with --full-refresh (a new
    table swapped in), so `is_incremental()` is false.
#}
{% macro should_full_refresh() -%}
    {%- set config_full_refresh = config.get('full_refresh') -%}
    {%- if config_full_refresh is none -%}
        {%- set config_full_refresh = flags.FULL_REFRESH -%}
    {%- endif -%}
    {%- if not config_full_refresh and execute and model is mapping and model.get('resource_type') == 'model'
        and chat_analytics.load_window()['reason'] != 'not planned' -%}
        {%- set config_full_refresh = chat_analytics.load_window()['mode'] == 'full' -%}
    {%- endif -%}
    {{ return(config_full_refresh) }}
{%- endmacro %}


{# True when this model recomputes only what the plan names (false in unit tests and full builds). #}
{% macro incremental_run() -%}
    {#- unit tests have no `this` unless they give one: they test the full path by default -#}
    {%- if this is none -%}{{ return(false) }}{%- endif -%}
    {{ return(is_incremental() and chat_analytics.load_window()['mode'] == 'incremental') }}
{%- endmacro %}


{# Value of the `_processed_load_seq` lineage column: the last load reflected in the row. #}
{% macro processed_load_seq() -%}
    cast({{ chat_analytics.load_window()['load_seq'] }} as bigint)
{%- endmacro %}


{# ------------------------------------------------------------------ on-run-start: the plan #}

{% macro plan_incremental_run() %}
    {%- if not execute or flags.WHICH not in ('build', 'run') -%}{{ return('') }}{%- endif -%}
    {%- set runs = chat_analytics.bookkeeping_relation('runs') -%}
    {%- set window = chat_analytics.bookkeeping_relation('window') -%}
    {%- set load_log = chat_analytics.raw_relation('load_log') -%}
    {% do run_query('create schema if not exists ' ~ adapter.quote(target.database) ~ '.intermediate') %}
    {% do run_query(
        'create table if not exists ' ~ runs ~ ' (load_seq bigint not null, load_id varchar, settings varchar not null, '
        ~ 'mode varchar not null, status varchar not null, invocation_id varchar not null, recorded_at timestamptz not null)'
    ) %}

    {%- set current = run_query(
        'select coalesce(max(load_seq), 0), arg_max(load_id, load_seq) from ' ~ load_log
    ).rows[0] -%}
    {%- set previous = run_query(
        'select load_seq, load_id, settings, status from ' ~ runs ~ ' order by recorded_at desc limit 1'
    ).rows -%}

    {#- a namespace: a plain `set` inside a for loop does not outlive the loop -#}
    {%- set decision = namespace(reason=none) -%}
    {%- if flags.FULL_REFRESH -%}
        {%- set decision.reason = '--full-refresh' -%}
    {%- elif previous | length == 0 -%}
        {%- set decision.reason = 'no earlier complete run' -%}
    {%- elif previous[0][3] != 'complete' -%}
        {%- set decision.reason = 'the last full run did not complete' -%}
    {%- elif previous[0][2] != chat_analytics.incremental_settings_fingerprint() -%}
        {%- set decision.reason = 'settings or model code changed since the last run (' ~ previous[0][2] ~ ')' -%}
    {%- elif previous[0][0] > current[0] -%}
        {%- set decision.reason = 'raw.load_log is behind the watermark (raw layer rebuilt)' -%}
    {%- elif previous[0][0] > 0 and run_query(
            'select count(*) from ' ~ load_log ~ ' where load_seq = ' ~ previous[0][0]
            ~ ' and load_id = ' ~ chat_analytics.quoted_literal(previous[0][1])
        ).columns[0].values()[0] == 0 -%}
        {%- set decision.reason = 'the watermark load is not in raw.load_log (raw layer rebuilt)' -%}
    {%- else -%}
        {%- for node in graph.nodes.values()
            if node.resource_type == 'model' and node.config.materialized == 'incremental' -%}
            {%- if decision.reason is none and not chat_analytics.relation_exists(api.Relation.create(
                    database=target.database, schema=node.schema, identifier=node.alias)) -%}
                {%- set decision.reason = 'model ' ~ node.name ~ ' does not exist' -%}
            {%- endif -%}
        {%- endfor -%}
        {%- for name in ['thread_tails', 'handover_events', 'event_days'] -%}
            {%- if decision.reason is none
                and not chat_analytics.relation_exists(chat_analytics.bookkeeping_relation(name)) -%}
                {%- set decision.reason = 'bookkeeping table _incremental_' ~ name ~ ' does not exist' -%}
            {%- endif -%}
        {%- endfor -%}
    {%- endif -%}
    {%- set reason = decision.reason -%}

    {%- set mode = 'full' if reason else 'incremental' -%}
    {%- set previous_load_seq = previous[0][0] if mode == 'incremental' else 0 -%}
    {{ log('incremental plan: ' ~ mode ~ (' (' ~ reason ~ ')' if reason else '')
        ~ ', loads ' ~ previous_load_seq ~ ' < load_seq <= ' ~ current[0], info=True) }}

    {% if mode == 'incremental' %}
        {% do chat_analytics.write_incremental_plan(previous_load_seq, current[0]) %}
    {% else %}
        {#- Until a full run completes, every run is full: a partial or failed full run (other
            settings, --full-refresh of a few models) leaves models that no watermark describes.
            The removal logs only matter to incremental runs: clear them. -#}
        {% do run_query(
            'insert into ' ~ runs ~ ' select ' ~ current[0] ~ ', null, '
            ~ chat_analytics.quoted_literal(chat_analytics.incremental_settings_fingerprint())
            ~ ", 'full', 'started', " ~ chat_analytics.quoted_literal(invocation_id) ~ ', now()'
        ) %}
        {% for node in graph.nodes.values()
            if node.resource_type == 'model' and node.config.get('removal_log_columns') %}
            {%- set log_relation = chat_analytics.removal_log_relation(api.Relation.create(
                database=target.database, schema=node.schema, identifier=node.alias)) -%}
            {% if chat_analytics.relation_exists(log_relation) %}
                {% do run_query('delete from ' ~ log_relation) %}
            {% endif %}
        {% endfor %}
    {% endif %}
    {% do run_query(
        'create or replace table ' ~ window ~ ' as select '
        ~ chat_analytics.quoted_literal(invocation_id) ~ ' as invocation_id, '
        ~ chat_analytics.quoted_literal(mode) ~ ' as mode, '
        ~ chat_analytics.quoted_literal(reason or 'changes above the watermark') ~ ' as reason, '
        ~ 'cast(' ~ previous_load_seq ~ ' as bigint) as previous_load_seq, '
        ~ 'cast(' ~ current[0] ~ ' as bigint) as load_seq, '
        ~ (chat_analytics.plan_bounds_sql() if mode == 'incremental' else
            'null as min_range_start, null as min_changed_at, null as max_changed_at, '
            ~ 'null as min_added_arrival, null as max_added_arrival')
        ~ ', now() as planned_at'
    ) %}
    {{ return('') }}
{% endmacro %}


{% macro plan_bounds_sql() -%}
    (select strftime(min(range_start), '%Y-%m-%d %H:%M:%S.%f+00') from {{ chat_analytics.plan_relation('changed_threads') }}) as min_range_start,
    (select strftime(min(occurred_at), '%Y-%m-%d %H:%M:%S.%f+00') from {{ chat_analytics.plan_relation('changed_events') }}) as min_changed_at,
    (select strftime(max(occurred_at), '%Y-%m-%d %H:%M:%S.%f+00') from {{ chat_analytics.plan_relation('changed_events') }}) as max_changed_at,
    (select cast(min(_arrival_date) as varchar) from {{ chat_analytics.plan_relation('changed_events') }} where change_type = 'added') as min_added_arrival,
    (select cast(max(_arrival_date) as varchar) from {{ chat_analytics.plan_relation('changed_events') }} where change_type = 'added') as max_added_arrival
{%- endmacro %}


{#
    The plan of an incremental run. Everything here reads state that the run's changes cannot
    alter (rows before each thread's recompute instant), so a retried run plans the same work.
#}
{% macro write_incremental_plan(previous_load_seq, load_seq) %}
    {%- set changed_events = chat_analytics.plan_relation('changed_events') -%}
    {%- set changed_threads = chat_analytics.plan_relation('changed_threads') -%}
    {%- set sessionized = chat_analytics.model_relation('int_events_sessionized') -%}
    {%- set tails = chat_analytics.bookkeeping_relation('thread_tails') -%}
    {%- set handover_events = chat_analytics.bookkeeping_relation('handover_events') -%}

    {#- 1. the winning copies removed or added since the watermark, normalised like staging -#}
    {% do run_query(
        'create or replace table ' ~ changed_events ~ ' as select distinct change_type, event_id, customer_id, '
        ~ chat_analytics.normalized_channel('channel') ~ ' as channel, '
        ~ chat_analytics.blank_to_null('handover_id') ~ ' as handover_id, '
        ~ 'occurred_at_utc as occurred_at, _arrival_date from ' ~ chat_analytics.raw_relation('event_changes')
        ~ ' where load_seq > ' ~ previous_load_seq ~ ' and load_seq <= ' ~ load_seq
    ) %}

    {#- 2. threads to recompute, each from the earliest instant of any version of its changed events -#}
    {% do run_query(
        'create or replace table ' ~ changed_threads ~ ' as select customer_id, channel, min(occurred_at) as range_start '
        ~ 'from ' ~ changed_events ~ ' group by customer_id, channel'
    ) %}
    {%- set min_range_start = run_query(
        "select strftime(min(range_start), '%Y-%m-%d %H:%M:%S.%f+00') from " ~ changed_threads
    ).columns[0].values()[0] -%}
    {%- set lower_bound = chat_analytics.timestamptz_literal(min_range_start) -%}

    {#- 3. the sessionization state just before each range: the stored state after the event before the
           thread's first event at or after the range start (initial for the thread's first event),
           else the thread's tail (its last event is earlier) -#}
    {% set restarts_sql %}
        create or replace table {{ chat_analytics.plan_relation('thread_restarts') }} as
        with
        changed_threads as (
            select customer_id, channel, range_start from {{ changed_threads }}
        ),
        first_positions_in_range as (
            select events.customer_id, events.channel, events.thread_position
            from {{ sessionized }} as events
            inner join changed_threads
                on events.customer_id = changed_threads.customer_id
                and events.channel = changed_threads.channel
            where events.occurred_at >= {{ lower_bound }}
                and events.occurred_at >= changed_threads.range_start
            qualify row_number() over (
                partition by events.customer_id, events.channel order by events.occurred_at, events.event_id
            ) = 1
        ),
        first_events_in_range as (
            -- thread_position numbers a thread's events 1, 2, ... in order: the previous event is position - 1
            select
                first_positions.customer_id,
                first_positions.channel,
                coalesce(previous_events._state_after, {{ chat_analytics.initial_session_state() }}) as state
            from first_positions_in_range as first_positions
            left join {{ sessionized }} as previous_events
                on previous_events.customer_id = first_positions.customer_id
                and previous_events.channel = first_positions.channel
                and previous_events.thread_position = first_positions.thread_position - 1
        ),
        tails as (
            select tails.customer_id, tails.channel, tails.last_event_at, tails.state
            from {{ tails }} as tails
            inner join changed_threads
                on tails.customer_id = changed_threads.customer_id
                and tails.channel = changed_threads.channel
        )
        select
            changed_threads.customer_id,
            changed_threads.channel,
            changed_threads.range_start,
            case
                when first_events_in_range.state is not null then first_events_in_range.state
                when tails.state is null then {{ chat_analytics.initial_session_state() }}
                when tails.last_event_at < changed_threads.range_start then tails.state
                else error('incremental state is inconsistent for thread ' || changed_threads.customer_id
                    || '/' || changed_threads.channel || ': run dbt build --full-refresh')
            end as state
        from changed_threads
        left join first_events_in_range
            on changed_threads.customer_id = first_events_in_range.customer_id
            and changed_threads.channel = first_events_in_range.channel
        left join tails
            on changed_threads.customer_id = tails.customer_id
            and changed_threads.channel = tails.channel
    {% endset %}
    {% do run_query(restarts_sql) %}

    {#- 4. handovers of each thread open just before its range (decision M2: per thread and handover,
           the latest handover_received / conversation_closed decides) -#}
    {% set open_handovers_sql %}
        create or replace table {{ chat_analytics.plan_relation('open_handovers') }} as
        with
        latest_state_events as (
            select handover_events.customer_id, handover_events.channel, handover_events.handover_id,
                handover_events.event_type
            from {{ handover_events }} as handover_events
            inner join {{ changed_threads }} as changed_threads
                on handover_events.customer_id = changed_threads.customer_id
                and handover_events.channel = changed_threads.channel
            where handover_events.occurred_at < changed_threads.range_start
                and handover_events.event_type in ('handover_received', 'conversation_closed')
            qualify row_number() over (
                partition by handover_events.customer_id, handover_events.channel, handover_events.handover_id
                order by handover_events.occurred_at desc, handover_events.event_id desc
            ) = 1
        )
        select customer_id, channel, handover_id
        from latest_state_events
        where event_type = 'handover_received'
    {% endset %}
    {% do run_query(open_handovers_sql) %}

    {#- 5. handover requests to recompute: a changed event carries their id, or one of their events lies
           in a recomputed thread range (its conversation may change) -#}
    {% set handovers_sql %}
        create or replace table {{ chat_analytics.plan_relation('changed_handovers') }} as
        select handover_id from {{ changed_events }} where handover_id is not null
        union
        select handover_events.handover_id
        from {{ handover_events }} as handover_events
        inner join {{ changed_threads }} as changed_threads
            on handover_events.customer_id = changed_threads.customer_id
            and handover_events.channel = changed_threads.channel
        where handover_events.occurred_at >= {{ lower_bound }}
            and handover_events.occurred_at >= changed_threads.range_start
    {% endset %}
    {% do run_query(handovers_sql) %}

    {#- 6. removal logs exist before any model reads them -#}
    {% for node in graph.nodes.values()
        if node.resource_type == 'model' and node.config.get('removal_log_columns') %}
        {%- set relation = api.Relation.create(database=target.database, schema=node.schema, identifier=node.alias) -%}
        {% do run_query(
            'create table if not exists ' ~ chat_analytics.removal_log_relation(relation)
            ~ ' as select cast(null as bigint) as _processed_load_seq, '
            ~ node.config.removal_log_columns | join(', ') ~ ' from ' ~ relation ~ ' where false'
        ) %}
    {% endfor %}
{% endmacro %}


{# ------------------------------------------------------------------ the incremental strategy #}

{#
    incremental_strategy='replace_affected'. In an incremental run: delete the target rows matching
    the model's `replace_where` predicate (rendered at run time; `__new_rows__` names the freshly
    computed rows), then insert the new rows. In a full run (settings changed, first run after a
    bookkeeping table was dropped...) every row is replaced. With `removal_log_columns`, the deleted
    rows' keys are appended to `<model>__removed`, tagged with the run's load_seq.
#}
{% macro get_incremental_replace_affected_sql(arg_dict) %}
    {%- set target_relation = arg_dict['target_relation'] -%}
    {%- set new_rows = arg_dict['temp_relation'] -%}
    {%- set columns = get_quoted_csv(arg_dict['dest_columns'] | map(attribute='name')) -%}
    {%- set window = chat_analytics.load_window() -%}
    {%- set log_columns = config.get('removal_log_columns') or [] -%}
    {%- if window['mode'] == 'incremental' -%}
        {%- set predicate = render(config.require('replace_where')) | replace('__new_rows__', new_rows | string) -%}
    {%- else -%}
        {%- set predicate = 'true' -%}
    {%- endif -%}
    {%- if log_columns %}
        {%- set removal_log = chat_analytics.removal_log_relation(target_relation) %}
    create table if not exists {{ removal_log }} as
        select cast(null as bigint) as _processed_load_seq, {{ log_columns | join(', ') }}
        from {{ target_relation }} where false;
    delete from {{ removal_log }}
        where {{ '_processed_load_seq <= ' ~ window['previous_load_seq'] if window['mode'] == 'incremental' else 'true' }};
        {%- if window['mode'] == 'incremental' %}
    insert into {{ removal_log }}
        select {{ window['load_seq'] }}, {{ log_columns | join(', ') }}
        from {{ target_relation }} as target_rows
        where {{ predicate }};
        {%- endif %}
    {%- endif %}
    delete from {{ target_relation }} as target_rows
        where {{ predicate }};
    insert into {{ target_relation }} ({{ columns }})
        select {{ columns }} from {{ new_rows }}
{% endmacro %}


{# ------------------------------------------------------------------ on-run-end: the watermark #}

{% macro record_incremental_run(results) %}
    {%- if not execute or flags.WHICH not in ('build', 'run') -%}{{ return('') }}{%- endif -%}
    {%- set window = chat_analytics.load_window() -%}
    {%- if window['reason'] == 'not planned' -%}{{ return('') }}{%- endif -%}
    {%- set built = [] -%}
    {%- for result in results -%}
        {%- if result.status in ['error', 'fail', 'skipped', 'runtime error'] -%}
            {{ log('incremental watermark not advanced: ' ~ result.node.unique_id ~ ' ' ~ result.status, info=True) }}
            {{ return('') }}
        {%- endif -%}
        {%- if result.node.resource_type == 'model' and result.status == 'success' -%}
            {%- do built.append(result.node.unique_id) -%}
        {%- endif -%}
    {%- endfor -%}
    {%- for node in graph.nodes.values()
        if node.resource_type == 'model' and node.config.materialized == 'incremental' -%}
        {%- if node.unique_id not in built -%}
            {{ log('incremental watermark not advanced: ' ~ node.name ~ ' was not built by this run', info=True) }}
            {{ return('') }}
        {%- endif -%}
    {%- endfor -%}
    {% set record %}
        insert into {{ chat_analytics.bookkeeping_relation('runs') }}
        select
            {{ window['load_seq'] }},
            (select max(load_id) from {{ chat_analytics.raw_relation('load_log') }} where load_seq = {{ window['load_seq'] }}),
            {{ chat_analytics.quoted_literal(chat_analytics.incremental_settings_fingerprint()) }},
            {{ chat_analytics.quoted_literal(window['mode']) }},
            'complete',
            {{ chat_analytics.quoted_literal(invocation_id) }},
            now()
    {% endset %}
    {% do run_query(record) %}
    {{ log('incremental watermark: load_seq ' ~ window['load_seq'], info=True) }}
    {{ return('') }}
{% endmacro %}


{# ------------------------------------------------------------------ tests of an incremental build #}

{#
    In an incremental `dbt build`, the generic data tests of a model that documents the
    `_processed_load_seq` column check the rows this run (or a failed run since the watermark)
    wrote, not the whole history.
    `dbt test` and full builds check every row.
#}
{% macro incremental_test_scope(relation) -%}
    {%- if not execute or flags.WHICH != 'build' or relation is string -%}{{ return('') }}{%- endif -%}
    {%- set window = chat_analytics.load_window() -%}
    {%- if window['mode'] != 'incremental' -%}{{ return('') }}{%- endif -%}
    {%- for node in graph.nodes.values()
        if node.resource_type == 'model' and node.alias == relation.identifier and node.schema == relation.schema -%}
        {%- if '_processed_load_seq' in node.columns -%}
            {{ return('_processed_load_seq > ' ~ window['previous_load_seq']) }}
        {%- endif -%}
    {%- endfor -%}
    {{ return('') }}
{%- endmacro %}

{% macro default__get_where_subquery(relation) -%}
    {%- set where = config.get('where', '') -%}
    {%- set scope = chat_analytics.incremental_test_scope(relation) -%}
    {%- if scope -%}
        {%- set where = '(' ~ where ~ ') and ' ~ scope if where else scope -%}
    {%- endif -%}
    {%- if where -%}
        {%- set filtered -%}
            (select * from {{ relation }} where {{ where }}) dbt_subquery
        {%- endset -%}
        {% do return(filtered) %}
    {%- else -%}
        {% do return(relation) %}
    {%- endif -%}
{%- endmacro %}


{# True while the data tests of an incremental `dbt build` run (singular tests scope themselves with it). #}
{% macro incremental_test_run() -%}
    {{ return(execute and flags.WHICH == 'build' and chat_analytics.load_window()['mode'] == 'incremental') }}
{%- endmacro %}
