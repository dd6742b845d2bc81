{#
    Incremental processing (decisions O4-O9 in docs/decisions.md).

    The loader gives every partition load a sequence number and records in raw.event_changes the
    winning copies it removed or added. A dbt run processes the changes above the last load sequence
    that a complete, successful run processed (the watermark), so new data is found by load, never by
    event time:

      on-run-start   `plan_incremental_run` decides the run's mode (full or incremental) and records it
                     in `intermediate._incremental_window`.
      plan models    `stg_chat__event_changes` (the changes this run processes), `int_run_threads` (the
                     threads to recompute and from where), `int_run_handovers` (the handover requests
                     to recompute) and `int_run_report_days` (the report days whose numbers can change):
                     models with a grain, docs and tests, empty in a full run.
      models         one code path: in an incremental run the macros `in_recomputed_range`,
                     `in_recomputed_handovers` and friends narrow a model's input (and the rows it
                     replaces) to what the plan names; in a full run they are `true`. The custom
                     incremental strategy `replace_affected` deletes the affected rows and inserts the
                     recomputed ones in one transaction, and logs the keys of the rows it deleted
                     (`removal_log_columns`) for the report days.
      on-run-end     `record_incremental_run` advances the watermark only when every incremental model
                     was built and no node errored, failed or was skipped: a failed run is redone whole
                     by the next one.

    The run log and the removal logs live in schema `intermediate` and start with `_incremental_` or
    end with `__removed`.
#}

{#
    Bump when the stored models' meaning changes without a change of a model's file (a metric rule
    in macros/metric_rules.sql, the plan's macros): the next run then rebuilds everything.
#}
{% macro incremental_logic_version() -%}
    {{ return('2') }}
{%- endmacro %}


{% macro bookkeeping_relation(name) -%}
    {{ return(api.Relation.create(database=target.database, schema='intermediate', identifier='_incremental_' ~ name)) }}
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
    What the stored models depend on besides raw data: the settings, the models' code (the
    checksums of their SQL files) and the seeds' data. A change of any makes the next run full.
#}
{% macro incremental_settings_fingerprint() -%}
    {%- set checksums = [] -%}
    {%- for node in graph.nodes.values() | sort(attribute='unique_id') if node.resource_type in ('model', 'seed') -%}
        {%- do checksums.append(node.unique_id ~ '=' ~ node.checksum.checksum) -%}
    {%- endfor -%}
    {{ return(
        'timezone=' ~ chat_analytics.reporting_timezone()
        ~ ';inactivity_minutes=' ~ chat_analytics.inactivity_minutes()
        ~ ';handover_timeout_seconds=' ~ chat_analytics.handover_timeout_seconds()
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
    The current run's window, as decided by on-run-start:
      mode                'incremental' or 'full'
      reason              why (a full run's cause, or 'changes above the watermark')
      previous_load_seq   the watermark: every load up to it is reflected in the models
      load_seq            the last load this run processes
    Outside a planned `dbt build` / `dbt run` (compile, docs, a plain `dbt test`) the mode is 'full'.
#}
{% macro load_window() -%}
    {{ return(adapter.dispatch('load_window', 'chat_analytics')()) }}
{%- endmacro %}

{% macro default__load_window() -%}
    {%- set cache_key = '_chat_analytics_incremental_window' -%}
    {%- if execute and graph.get(cache_key, {}).get('invocation_id') == invocation_id -%}
        {#- read once per invocation: the mode does not change during a run -#}
        {{ return(graph[cache_key]) }}
    {%- endif -%}
    {%- set window = {
        'invocation_id': none, 'mode': 'full', 'reason': 'not planned', 'previous_load_seq': 0, 'load_seq': 0
    } -%}
    {%- if not execute -%}{{ return(window) }}{%- endif -%}
    {%- set relation = chat_analytics.bookkeeping_relation('window') -%}
    {%- if not chat_analytics.relation_exists(relation) -%}{{ return(window) }}{%- endif -%}
    {%- set result = run_query(
        "select mode, reason, previous_load_seq, load_seq from " ~ relation
        ~ " where invocation_id = " ~ chat_analytics.quoted_literal(invocation_id)
    ) -%}
    {%- if result.rows | length == 0 -%}{{ return(window) }}{%- endif -%}
    {%- set row = result.rows[0] -%}
    {%- do window.update({
        'invocation_id': invocation_id, 'mode': row[0], 'reason': row[1],
        'previous_load_seq': row[2], 'load_seq': row[3]
    }) -%}
    {%- do graph.update({cache_key: window}) -%}
    {{ return(window) }}
{%- endmacro %}


{#
    Bounds of the plan, as SQL literals, for zone-map pruning: read from a plan model built earlier in
    the run (`stg_chat__event_changes` for the changed instants and arrival dates, `int_run_threads`
    for the earliest range start). Only called in incremental runs. Each is queried once per
    invocation: a model reads them several times (its input and its replace_where), and a plan model
    is built before any of its readers.
#}
{% macro cached_plan_value(key, sql) -%}
    {%- set cache = graph.setdefault('_chat_analytics_plan_bounds', {}) -%}
    {%- if cache.get('invocation_id') != invocation_id -%}
        {%- do cache.clear() -%}
        {%- do cache.update({'invocation_id': invocation_id}) -%}
    {%- endif -%}
    {%- if key not in cache -%}
        {%- do cache.update({key: run_query(sql).rows[0]}) -%}
    {%- endif -%}
    {{ return(cache[key]) }}
{%- endmacro %}

{% macro change_bounds() -%}
    {%- set changes = chat_analytics.model_relation('stg_chat__event_changes') -%}
    {%- set row = chat_analytics.cached_plan_value(
        'changes',
        "select strftime(min(occurred_at), '%Y-%m-%d %H:%M:%S.%f+00'), strftime(max(occurred_at), '%Y-%m-%d %H:%M:%S.%f+00'), "
        ~ "cast(min(_arrival_date) filter (where change_type = 'added') as varchar), "
        ~ "cast(max(_arrival_date) filter (where change_type = 'added') as varchar) from " ~ changes
    ) -%}
    {{ return({
        'min_changed_at': chat_analytics.timestamptz_literal(row[0]),
        'max_changed_at': chat_analytics.timestamptz_literal(row[1]),
        'min_added_arrival': chat_analytics.date_literal(row[2]),
        'max_added_arrival': chat_analytics.date_literal(row[3]),
    }) }}
{%- endmacro %}

{% macro min_range_start() -%}
    {%- set threads = chat_analytics.model_relation('int_run_threads') -%}
    {%- set value = chat_analytics.cached_plan_value(
        'threads', "select strftime(min(range_start), '%Y-%m-%d %H:%M:%S.%f+00') from " ~ threads
    )[0] -%}
    {{ return(chat_analytics.timestamptz_literal(value)) }}
{%- endmacro %}


{#
    The narrowing of an incremental run, one predicate per kind of row; `true` in a full run, so a
    model has one code path. `alias` is the table alias of the rows filtered.

    in_recomputed_threads   rows of a thread the run recomputes (any time)
    in_recomputed_range     rows of a recomputed thread at or after its range start (`time_column`)
    in_recomputed_handovers rows of a handover request the run recomputes
#}
{% macro in_recomputed_threads(alias) -%}
    {%- if chat_analytics.incremental_run() -%}
    exists (
        select 1
        from {{ chat_analytics.model_relation('int_run_threads') }} as run_threads
        where run_threads.customer_id = {{ alias }}.customer_id
            and run_threads.channel = {{ alias }}.channel
    )
    {%- else -%}
    true
    {%- endif -%}
{%- endmacro %}

{% macro in_recomputed_range(alias, time_column='occurred_at') -%}
    {%- if chat_analytics.incremental_run() -%}
    (
        {{ alias }}.{{ time_column }} >= {{ chat_analytics.min_range_start() }}
        and exists (
            select 1
            from {{ chat_analytics.model_relation('int_run_threads') }} as run_threads
            where run_threads.customer_id = {{ alias }}.customer_id
                and run_threads.channel = {{ alias }}.channel
                and {{ alias }}.{{ time_column }} >= run_threads.range_start
        )
    )
    {%- else -%}
    true
    {%- endif -%}
{%- endmacro %}

{% macro in_recomputed_handovers(alias) -%}
    {%- if chat_analytics.incremental_run() -%}
    {{ alias }}.handover_id in (select handover_id from {{ chat_analytics.model_relation('int_run_handovers') }})
    {%- else -%}
    true
    {%- endif -%}
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


{#
    True in a dbt run or build that works from the changes above the watermark: models (plan models
    included) then narrow their input to what the plan names. False in full runs and in unit tests.
#}
{% macro incremental_run() -%}
    {#- unit tests have no `this` unless they give one: they test the full path -#}
    {%- if this is none -%}{{ return(false) }}{%- endif -%}
    {{ return(execute and chat_analytics.load_window()['mode'] == 'incremental') }}
{%- endmacro %}


{# Value of the `_processed_load_seq` lineage column: the last load reflected in the row. #}
{% macro processed_load_seq() -%}
    cast({{ chat_analytics.load_window()['load_seq'] }} as bigint)
{%- endmacro %}


{# ------------------------------------------------------------------ on-run-start: the plan #}

{% macro plan_incremental_run() %}
    {{ return(adapter.dispatch('plan_incremental_run', 'chat_analytics')()) }}
{% endmacro %}

{% macro default__plan_incremental_run() %}
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
    {%- endif -%}
    {%- set reason = decision.reason -%}

    {%- set mode = 'full' if reason else 'incremental' -%}
    {%- set previous_load_seq = previous[0][0] if mode == 'incremental' else 0 -%}
    {{ log('incremental plan: ' ~ mode ~ (' (' ~ reason ~ ')' if reason else '')
        ~ ', loads ' ~ previous_load_seq ~ ' < load_seq <= ' ~ current[0], info=True) }}

    {% if mode == 'incremental' %}
        {% do chat_analytics.ensure_removal_logs() %}
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
        ~ 'now() as planned_at'
    ) %}
    {{ return('') }}
{% endmacro %}


{# The removal logs exist before any model reads them (int_run_report_days reads them all). #}
{% macro ensure_removal_logs() %}
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
    {{ return(adapter.dispatch('record_incremental_run', 'chat_analytics')(results)) }}
{% endmacro %}

{% macro default__record_incremental_run(results) %}
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
    The rows a generic data test checks in a planned `dbt build` (a plain `dbt test` checks every row):
      incremental  the tests of a model that documents the `_processed_load_seq` column check the rows
                   this run (or a failed run since the watermark) wrote, not the whole history;
      full         every row, but for a test whose `meta.proven_in_full_builds_by` names the tests that
                   prove it when the model is built whole: it checks no row (issue 13). Such a test is
                   one the model's SQL makes follow from them (e.g. a key carried unchanged through
                   windows and joins on unique keys, given the input's key and an unchanged row count);
                   they run in the same build, and `test_incremental.py` checks that they exist.
#}
{% macro incremental_test_scope(relation) -%}
    {%- if not execute or flags.WHICH != 'build' or relation is string -%}{{ return('') }}{%- endif -%}
    {%- set window = chat_analytics.load_window() -%}
    {%- if window['mode'] == 'full' and window['invocation_id'] is not none
        and config.get('meta', {}).get('proven_in_full_builds_by') -%}
        {{ return('false') }}
    {%- endif -%}
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


{# (local_date, channel) of every changed event, either version: the days whose event counts change. #}
{% macro changed_event_days() -%}
    select distinct
        cast({{ chat_analytics.to_local_timestamp('occurred_at') }} as date) as local_date,
        channel
    from {{ ref('stg_chat__event_changes') }}
{%- endmacro %}
