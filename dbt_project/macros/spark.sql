{#
    Apache Spark (dbt-spark, `--target spark`): the `spark__` versions of the project's dispatched macros.

    Spark sessions keep no catalog between processes (spark.sql.catalogImplementation=in-memory), and
    Parquet tables have no row deletes, so on Spark:
      - every run is a full build: models are tables (dbt_project.yml), the plan is 'full';
      - each dbt invocation builds into its own folder, <spark warehouse>/builds/<invocation_id>/, one
        `<schema>.db` folder per schema (macro `spark__create_schema`), so a failed build never touches
        the last good one;
      - on-run-start registers the raw layer the loader wrote (orchestration/spark_loader.py) and the
        run log <spark warehouse>/runs/, which on-run-end appends to; the serving snapshot is published
        from the last complete build the run log names (orchestration/spark_build.py).
#}

{% macro spark_warehouse() -%}
    {%- set value = var('spark_warehouse', env_var('CHAT_ANALYTICS_SPARK_WAREHOUSE', '')) | trim -%}
    {%- if not value.startswith('/') and '://' not in value -%}
        {{ exceptions.raise_compiler_error(
            "CHAT_ANALYTICS_SPARK_WAREHOUSE must be the absolute path of the Spark warehouse folder, got '"
            ~ value ~ "'"
        ) }}
    {%- endif -%}
    {{ return(value) }}
{%- endmacro %}

{# A path as a Spark SQL string literal: Spark's literals escape with a backslash. #}
{% macro spark_path_literal(path) -%}
    {{- "'" ~ (path | replace('\\', '\\\\') | replace("'", "\\'")) ~ "'" -}}
{%- endmacro %}

{% macro spark_build_location() -%}
    {{ return(chat_analytics.spark_warehouse() ~ '/builds/' ~ invocation_id) }}
{%- endmacro %}

{# Every schema of an invocation lives in that invocation's build folder. #}
{% macro spark__create_schema(relation) -%}
    {%- call statement('create_schema') -%}
        create schema if not exists {{ relation.without_identifier() }}
        location {{ chat_analytics.spark_path_literal(chat_analytics.spark_build_location() ~ '/' ~ relation.schema ~ '.db') }}
    {%- endcall -%}
{%- endmacro %}

{# ------------------------------------------------------------------ time zones, epochs, intervals #}

{% macro spark__to_local_timestamp(instant) -%}
    cast(from_utc_timestamp({{ instant }}, {{ chat_analytics.quoted_literal(chat_analytics.reporting_timezone()) }}) as timestamp_ntz)
{%- endmacro %}

{% macro spark__seconds_between(start_instant, end_instant) -%}
    (cast(unix_micros({{ end_instant }}) - unix_micros({{ start_instant }}) as double) / 1e6)
{%- endmacro %}

{% macro spark__iso_day_of_week(date_expr) -%}
    cast(extract(dayofweek_iso from {{ date_expr }}) as {{ dbt.type_int() }})
{%- endmacro %}

{% macro spark__type_double() -%}
    double
{%- endmacro %}

{% macro spark__add_interval(datepart, interval, from_date_or_timestamp) -%}
    timestampadd({{ datepart | upper }}, {{ interval }}, {{ from_date_or_timestamp }})
{%- endmacro %}

{% macro spark__add_days(instant, days) -%}
    timestampadd(DAY, {{ days }}, {{ instant }})
{%- endmacro %}

{% macro spark__days_between(start_date_expr, end_date_expr, from_relation) -%}
    select explode(sequence(cast({{ start_date_expr }} as date), cast({{ end_date_expr }} as date), interval 1 day)) as date_day
    from {{ from_relation }}
    where {{ start_date_expr }} is not null
{%- endmacro %}

{# ------------------------------------------------------------------ strings, lists, windows #}

{% macro spark__trim_whitespace(column_name) -%}
    btrim({{ column_name }}, '{% for code in chat_analytics.whitespace_code_points() %}\u{{ '%04x' % code }}{% endfor %}')
{%- endmacro %}

{% macro spark__last_value_ignore_nulls(expression) -%}
    last_value({{ expression }}, true)
{%- endmacro %}

{% macro spark__value_at_max(value, ordering) -%}
    max_by({{ value }}, {{ ordering }})
{%- endmacro %}

{% macro spark__first_value_ignore_nulls(expression) -%}
    first_value({{ expression }}, true)
{%- endmacro %}

{% macro spark__unnest_values(columns) -%}
    explode(array({{ columns | join(', ') }}))
{%- endmacro %}

{# Spark reads Parquet by row group statistics of its own files; a global sort would only cost a shuffle. #}
{% macro spark__order_for_pruning(columns) -%}
{%- endmacro %}

{# ------------------------------------------------------------------ the run: plan, window, record #}

{% macro spark_raw_ddl(table) -%}
    {#- the contract's columns (orchestration/raw_contract.py), handed over by orchestration/config.py -#}
    {%- set tables = fromjson(var('spark_raw_ddl', env_var('CHAT_ANALYTICS_SPARK_RAW_DDL', '{}'))) -%}
    {%- if table not in tables -%}
        {{ exceptions.raise_compiler_error(
            "var spark_raw_ddl has no schema for raw." ~ table ~ ": run dbt through chat-analytics "
            ~ "(or pass the --vars of orchestration.config.Settings.dbt_cli_args())"
        ) }}
    {%- endif -%}
    {{ return(tables[table]) }}
{%- endmacro %}

{% macro spark_runs_ddl() -%}
    load_seq bigint, load_id string, settings string, mode string, status string, invocation_id string,
    recorded_at timestamp, build_location string
{%- endmacro %}

{#
    on-run-start: register the raw tables and the run log (external Parquet tables; their files
    outlive the session) and decide the run: always full, over every load in raw.load_log.
#}
{% macro spark__plan_incremental_run() %}
    {%- if not execute -%}{{ return('') }}{%- endif -%}
    {%- set root = chat_analytics.spark_warehouse() -%}
    {% do run_query("create schema if not exists raw location " ~ chat_analytics.spark_path_literal(root ~ '/raw')) %}
    {% for table in ['chat_events', 'quarantined_events'] %}
        {% do run_query(
            'create table if not exists raw.' ~ table ~ ' (' ~ chat_analytics.spark_raw_ddl(table) ~ ') '
            ~ 'using parquet partitioned by (_arrival_date) location '
            ~ chat_analytics.spark_path_literal(root ~ '/raw/' ~ table)
        ) %}
        {% do run_query('alter table raw.' ~ table ~ ' recover partitions') %}
    {% endfor %}
    {% for table in ['load_log', 'event_changes'] %}
        {% do run_query(
            'create table if not exists raw.' ~ table ~ ' (' ~ chat_analytics.spark_raw_ddl(table) ~ ') '
            ~ 'using parquet location ' ~ chat_analytics.spark_path_literal(root ~ '/raw/' ~ table)
        ) %}
        {% do run_query('refresh table raw.' ~ table) %}
    {% endfor %}
    {% do run_query(
        'create schema if not exists intermediate location '
        ~ chat_analytics.spark_path_literal(chat_analytics.spark_build_location() ~ '/intermediate.db')
    ) %}
    {% do run_query(
        'create table if not exists intermediate._incremental_runs (' ~ chat_analytics.spark_runs_ddl() ~ ') '
        ~ 'using parquet location ' ~ chat_analytics.spark_path_literal(root ~ '/runs')
    ) %}
    {%- set current = run_query('select coalesce(max(load_seq), 0) from raw.load_log').columns[0].values()[0] -%}
    {%- set window = {
        'invocation_id': invocation_id, 'mode': 'full',
        'reason': 'Spark builds every model in full on every run', 'previous_load_seq': 0, 'load_seq': current
    } -%}
    {%- do graph.update({'_chat_analytics_incremental_window': window}) -%}
    {{ log('incremental plan: full (Spark builds every model in full), loads 0 < load_seq <= ' ~ current, info=True) }}
    {{ return('') }}
{% endmacro %}

{% macro spark__load_window() -%}
    {%- set window = graph.get('_chat_analytics_incremental_window', {}) if execute else {} -%}
    {%- if window.get('invocation_id') == invocation_id -%}
        {{ return(window) }}
    {%- endif -%}
    {{ return({
        'invocation_id': none, 'mode': 'full', 'reason': 'not planned', 'previous_load_seq': 0, 'load_seq': 0
    }) }}
{%- endmacro %}

{#
    on-run-end: a build is complete when every model of the project was built and no node failed; only
    then is it recorded, and only a recorded build is ever published.
#}
{% macro spark__record_incremental_run(results) %}
    {%- if not execute or flags.WHICH not in ('build', 'run') -%}{{ return('') }}{%- endif -%}
    {%- set window = chat_analytics.load_window() -%}
    {%- if window['reason'] == 'not planned' -%}{{ return('') }}{%- endif -%}
    {%- set built = [] -%}
    {%- for result in results -%}
        {%- if result.status in ['error', 'fail', 'skipped', 'runtime error'] -%}
            {{ log('Spark build not recorded: ' ~ result.node.unique_id ~ ' ' ~ result.status, info=True) }}
            {{ return('') }}
        {%- endif -%}
        {%- if result.node.resource_type == 'model' and result.status == 'success' -%}
            {%- do built.append(result.node.unique_id) -%}
        {%- endif -%}
    {%- endfor -%}
    {%- for node in graph.nodes.values() if node.resource_type == 'model' -%}
        {%- if node.unique_id not in built -%}
            {{ log('Spark build not recorded: ' ~ node.name ~ ' was not built by this run', info=True) }}
            {{ return('') }}
        {%- endif -%}
    {%- endfor -%}
    {% set record %}
        insert into intermediate._incremental_runs
        select
            cast({{ window['load_seq'] }} as bigint),
            (select max(load_id) from raw.load_log where load_seq = {{ window['load_seq'] }}),
            {{ chat_analytics.quoted_literal(chat_analytics.incremental_settings_fingerprint()) }},
            'full',
            'complete',
            {{ chat_analytics.quoted_literal(invocation_id) }},
            current_timestamp(),
            {{ chat_analytics.spark_path_literal(chat_analytics.spark_build_location()) }}
    {% endset %}
    {% do run_query(record) %}
    {{ log('Spark build recorded: ' ~ chat_analytics.spark_build_location() ~ ', load_seq ' ~ window['load_seq'], info=True) }}
    {{ return('') }}
{% endmacro %}

{# ------------------------------------------------------------------ model contracts #}

{#
    The marts' contracts (models/marts/_marts__models.yml) name DuckDB's types; on Spark each is checked
    as its Spark equivalent, the type the same Parquet column gets: `timestamp with time zone` is
    Spark's `timestamp` (an instant), `varchar` its `string`, `integer` its `int`.
#}
{% macro spark_contract_type(data_type) -%}
    {%- set spelled = data_type | trim | lower -%}
    {%- set spark_types = {
        'varchar': 'string', 'text': 'string', 'integer': 'int',
        'timestamp with time zone': 'timestamp', 'timestamptz': 'timestamp', 'timestamp': 'timestamp_ntz',
    } -%}
    {{ return(spark_types.get(spelled, spelled)) }}
{%- endmacro %}

{% macro spark__get_empty_schema_sql(columns) %}
    {%- set translated = {} -%}
    {%- for name in columns -%}
        {%- set column = columns[name] -%}
        {%- set copy = {} -%}
        {%- do copy.update(column) -%}
        {%- if column.get('data_type') is not none -%}
            {%- do copy.update({'data_type': chat_analytics.spark_contract_type(column['data_type'])}) -%}
        {%- endif -%}
        {%- do translated.update({name: copy}) -%}
    {%- endfor -%}
    {{ return(dbt.default__get_empty_schema_sql(translated)) }}
{% endmacro %}
