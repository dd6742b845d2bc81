"""The raw layer's contract, written once: the input fields, the quarantine rules in their order, the raw tables.

Both loaders render their validation from this module: `orchestration.raw_events` (DuckDB) and
`orchestration.spark_loader` (Apache Spark). Each loader parses a line into the same intermediate
columns, named here:

    txt                 the line as text, null when it is not valid UTF-8
    j                   the parsed JSON value, null when the line is not a single JSON value
    root_type           the JSON type of the line's root value
    t_<field>           the JSON type of each known field, in DuckDB's vocabulary: 'VARCHAR', 'NULL',
                        'OBJECT', 'ARRAY', 'BIGINT', ... (null when the field is absent)
    <field>             the field's value as text
    occurred_at_utc     the instant, null when `occurred_at` is not an RFC 3339 instant (decision R2)

`reason_case(dialect, arrival_date)` then renders decision R5's CASE over those columns: the first
rule that applies is the line's quarantine reason, and a line no rule applies to is valid.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

EVENT_TYPES = (
    "message",
    "handover_requested",
    "handover_received",
    "handover_cancelled",
    "handover_disabled",
    "handover_incomplete",
    "conversation_closed",
)
HANDOVER_EVENT_TYPES = EVENT_TYPES[1:]
SENDERS = ("customer", "bot", "agent")
REQUIRED_FIELDS = ("event_id", "occurred_at", "customer_id", "channel", "event_type")
OPTIONAL_STRING_FIELDS = (
    "sender",
    "message_type",
    "handover_id",
    "agent_id",
    "department",
    "flow_type",
    "text",
)
KNOWN_FIELDS = (*REQUIRED_FIELDS, *OPTIONAL_STRING_FIELDS, "properties")

# RFC 3339 with a mandatory offset; the fraction is cut to microseconds before the cast (decision R3).
# Hours 00-23 and minutes 00-59, in the time and in the offset (decision R2): DuckDB's cast alone
# accepts 24:00:00 (as the next midnight) and offsets such as +99:99.
RFC3339_PATTERN = (
    r"^\d{4}-\d{2}-\d{2}[Tt ]([01]\d|2[0-3]):[0-5]\d:[0-5]\d(\.\d+)?([Zz]|[+-]([01]\d|2[0-3]):[0-5]\d)$"
)
# A value made only of these characters is blank (decision R5): Unicode White_Space, tabs included.
WHITESPACE_CODE_POINTS = (
    *range(9, 14),
    32,
    0x85,
    0xA0,
    0x1680,
    *range(0x2000, 0x200B),
    0x2028,
    0x2029,
    0x202F,
    0x205F,
    0x3000,
)
# What a line made only of these is (decision R9: `empty_line`): space, tab, carriage return.
EMPTY_LINE_CODE_POINTS = (32, 9, 13)
EARLIEST_VALID_INSTANT = "2000-01-01 00:00:00+00"
FUTURE_TOLERANCE_DAYS = 3  # the arrival day itself plus two days of clock skew (decision R4)
QUARANTINED_TEXT_LIMIT = 100_000


# ---------------------------------------------------------------------------------------------------
# The quarantine rules (decision R5), in the order they are checked
# ---------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Rule:
    """One quarantine reason and what makes a line fail it.

    kind:
        not_utf8            the line is not valid UTF-8
        empty_line          the line holds only spaces, tabs and carriage returns
        not_json_object     the line is not one JSON value, or its root is not an object
        missing             `field` is absent, JSON null, or a blank string
        type_not_in         `field` is present with a JSON type not in `types`
        invalid_timestamp   `occurred_at` is not an RFC 3339 instant with an offset
        out_of_range        the instant is before 2000 or past the arrival date's tolerance
        value_not_in        `field`'s value is not one of `values`
        blank_value         `field`'s value is null or blank (types are already checked)
    `when_event_types`: the rule only applies to events of these types.
    """

    reason: str
    kind: str
    field: str | None = None
    types: tuple[str, ...] = ()
    values: tuple[str, ...] = ()
    when_event_types: tuple[str, ...] | None = None


QUARANTINE_RULES: tuple[Rule, ...] = (
    Rule("invalid_utf8", "not_utf8"),
    Rule("empty_line", "empty_line"),
    Rule("invalid_json", "not_json_object"),
    *(Rule(f"missing_field:{name}", "missing", name) for name in REQUIRED_FIELDS),
    *(Rule(f"invalid_type:{name}", "type_not_in", name, types=("VARCHAR",)) for name in REQUIRED_FIELDS),
    *(
        Rule(f"invalid_type:{name}", "type_not_in", name, types=("VARCHAR", "NULL"))
        for name in OPTIONAL_STRING_FIELDS
    ),
    Rule("invalid_type:properties", "type_not_in", "properties", types=("OBJECT", "NULL")),
    Rule("invalid_timestamp", "invalid_timestamp"),
    Rule("timestamp_out_of_range", "out_of_range"),
    Rule("unknown_event_type", "value_not_in", "event_type", values=EVENT_TYPES),
    Rule("missing_field:sender", "blank_value", "sender", when_event_types=("message",)),
    Rule("invalid_sender", "value_not_in", "sender", values=SENDERS, when_event_types=("message",)),
    Rule("missing_handover_id", "blank_value", "handover_id", when_event_types=HANDOVER_EVENT_TYPES),
)
QUARANTINE_REASONS: tuple[str, ...] = tuple(rule.reason for rule in QUARANTINE_RULES)


def quote(value: str) -> str:
    """A SQL string literal (both engines double the single quote)."""
    return "'" + value.replace("'", "''") + "'"


def _in_list(values: tuple[str, ...]) -> str:
    return ", ".join(quote(v) for v in values)


class Dialect:
    """How one engine writes the few predicates whose SQL differs; the rest is shared."""

    name = "abstract"

    def blank(self, column: str) -> str:
        raise NotImplementedError

    def empty_text(self, column: str) -> str:
        raise NotImplementedError

    def out_of_range(self, arrival_date: date | str) -> str:
        """The instant is before 2000 or past the tolerance of the arrival date (a date or a SQL date column)."""
        raise NotImplementedError


def date_sql(arrival_date: date | str) -> str:
    """A date as SQL: a literal for a `date`, else the SQL expression itself (a column name)."""
    return f"date '{arrival_date.isoformat()}'" if isinstance(arrival_date, date) else arrival_date


class DuckDBDialect(Dialect):
    name = "duckdb"

    def blank(self, column: str) -> str:
        """`column` (a string) is empty or only whitespace.

        The first character is tested before the trim, so that the common value costs no copy.
        """
        chars = " || ".join(f"chr({code})" for code in WHITESPACE_CODE_POINTS)
        codes = ", ".join(str(code) for code in WHITESPACE_CODE_POINTS)
        return (
            f"(case when ascii({column}) in ({codes}) then trim({column}, {chars}) = '' "
            f"else {column} = '' end)"
        )

    def empty_text(self, column: str) -> str:
        chars = " || ".join("' '" if code == 32 else f"chr({code})" for code in EMPTY_LINE_CODE_POINTS)
        return f"trim({column}, {chars}) = ''"

    def out_of_range(self, arrival_date: date | str) -> str:
        upper_bound = f"{date_sql(arrival_date)} + interval {FUTURE_TOLERANCE_DAYS} day"
        return (
            f"occurred_at_utc < timestamptz '{EARLIEST_VALID_INSTANT}' "
            f"or occurred_at_utc >= ({upper_bound})::timestamptz"
        )


def spark_string_literal(code_points: tuple[int, ...]) -> str:
    """A Spark SQL literal holding these characters, written as \\uXXXX escapes."""
    return "'" + "".join(f"\\u{code:04x}" for code in code_points) + "'"


class SparkDialect(Dialect):
    name = "spark"

    def blank(self, column: str) -> str:
        codes = ", ".join(str(code) for code in WHITESPACE_CODE_POINTS)
        chars = spark_string_literal(WHITESPACE_CODE_POINTS)
        return (
            f"(case when ascii({column}) in ({codes}) then btrim({column}, {chars}) = '' "
            f"else {column} = '' end)"
        )

    def empty_text(self, column: str) -> str:
        return f"btrim({column}, {spark_string_literal(EMPTY_LINE_CODE_POINTS)}) = ''"

    def out_of_range(self, arrival_date: date | str) -> str:
        # Sessions run in UTC: a timestamp literal without an offset is a UTC instant.
        earliest = EARLIEST_VALID_INSTANT.removesuffix("+00")
        if isinstance(arrival_date, date):
            upper_bound = arrival_date + timedelta(days=FUTURE_TOLERANCE_DAYS)
            limit = f"timestamp '{upper_bound.isoformat()} 00:00:00'"
        else:
            limit = f"cast(date_add({arrival_date}, {FUTURE_TOLERANCE_DAYS}) as timestamp)"
        return f"occurred_at_utc < timestamp '{earliest}' or occurred_at_utc >= {limit}"


DUCKDB = DuckDBDialect()
SPARK = SparkDialect()


def rule_condition(rule: Rule, dialect: Dialect, arrival_date: date | str) -> str:
    field = rule.field
    if rule.kind == "not_utf8":
        condition = "txt is null"
    elif rule.kind == "empty_line":
        # CASE, not AND: the trim runs only for the lines that are not JSON.
        condition = f"case when j is null then {dialect.empty_text('txt')} else false end"
    elif rule.kind == "not_json_object":
        condition = "j is null or root_type <> 'OBJECT'"
    elif rule.kind == "missing":
        condition = (
            f"t_{field} is null or t_{field} = 'NULL' or (t_{field} = 'VARCHAR' and {dialect.blank(field)})"
        )
    elif rule.kind == "type_not_in":
        if len(rule.types) == 1:
            condition = f"t_{field} <> {quote(rule.types[0])}"
        else:
            condition = f"t_{field} not in ({_in_list(rule.types)})"
    elif rule.kind == "invalid_timestamp":
        condition = "occurred_at_utc is null"
    elif rule.kind == "out_of_range":
        condition = dialect.out_of_range(arrival_date)
    elif rule.kind == "value_not_in":
        condition = f"{field} not in ({_in_list(rule.values)})"
    elif rule.kind == "blank_value":
        condition = f"({field} is null or {dialect.blank(field)})"
    else:  # pragma: no cover - a rule kind without a rendering is a programming error
        raise ValueError(f"unknown rule kind {rule.kind!r}")
    if rule.when_event_types is not None:
        if len(rule.when_event_types) == 1:
            guard = f"event_type = {quote(rule.when_event_types[0])}"
        else:
            guard = f"event_type in ({_in_list(rule.when_event_types)})"
        condition = f"{guard} and {condition}"
    return condition


def reason_case(dialect: Dialect, arrival_date: date | str) -> str:
    """SQL: the quarantine reason of a parsed line (null for a valid line), rules in R5's order.

    `arrival_date` is the lines' arrival date, or the SQL column holding it (several partitions in one pass).
    """
    whens = [
        f"when {rule_condition(rule, dialect, arrival_date)} then {quote(rule.reason)}"
        for rule in QUARANTINE_RULES
    ]
    return "case\n            " + "\n            ".join(whens) + "\n        end"


# ---------------------------------------------------------------------------------------------------
# The raw tables: columns and logical types (DuckDB's DDL is orchestration/raw_schema.py; Spark's
# schema is rendered from these; tests/test_raw_contract.py keeps the DuckDB tables equal to them)
# ---------------------------------------------------------------------------------------------------

# logical type -> (DuckDB type, Spark SQL type)
LOGICAL_TYPES: dict[str, tuple[str, str]] = {
    "string": ("VARCHAR", "string"),
    "instant": ("TIMESTAMP WITH TIME ZONE", "timestamp"),
    "date": ("DATE", "date"),
    "bigint": ("BIGINT", "bigint"),
    "integer": ("INTEGER", "int"),
    "boolean": ("BOOLEAN", "boolean"),
    "json": ("JSON", "string"),
}

CHAT_EVENTS_COLUMNS: tuple[tuple[str, str], ...] = (
    ("event_id", "string"),
    ("occurred_at", "string"),
    ("occurred_at_utc", "instant"),
    ("customer_id", "string"),
    ("channel", "string"),
    ("event_type", "string"),
    ("sender", "string"),
    ("message_type", "string"),
    ("handover_id", "string"),
    ("agent_id", "string"),
    ("department", "string"),
    ("flow_type", "string"),
    ("text", "string"),
    ("properties", "json"),
    ("extra_fields", "json"),
    ("_arrival_date", "date"),
    ("_source_file", "string"),
    ("_line_number", "bigint"),
    ("_load_id", "string"),
    ("_loaded_at", "instant"),
    ("_is_duplicate", "boolean"),
)
QUARANTINED_EVENTS_COLUMNS: tuple[tuple[str, str], ...] = (
    ("_arrival_date", "date"),
    ("_source_file", "string"),
    ("_line_number", "bigint"),
    ("raw_line", "string"),
    ("raw_line_bytes", "bigint"),
    ("reason", "string"),
    ("_load_id", "string"),
    ("_loaded_at", "instant"),
)
LOAD_LOG_COLUMNS: tuple[tuple[str, str], ...] = (
    ("load_id", "string"),
    ("arrival_date", "date"),
    ("started_at", "instant"),
    ("finished_at", "instant"),
    ("files_read", "integer"),
    ("lines_read", "bigint"),
    ("valid_rows", "bigint"),
    ("quarantined_rows", "bigint"),
    ("duplicate_rows", "bigint"),
    ("load_seq", "bigint"),
    ("files_fingerprint", "string"),
)
# Written by the DuckDB loader only (incremental runs); an empty table on Spark, whose runs are full.
EVENT_CHANGES_COLUMNS: tuple[tuple[str, str], ...] = (
    ("load_seq", "bigint"),
    ("change_type", "string"),
    ("event_id", "string"),
    ("customer_id", "string"),
    ("channel", "string"),
    ("handover_id", "string"),
    ("occurred_at_utc", "instant"),
    ("_arrival_date", "date"),
)
RAW_TABLES: dict[str, tuple[tuple[str, str], ...]] = {
    "chat_events": CHAT_EVENTS_COLUMNS,
    "quarantined_events": QUARANTINED_EVENTS_COLUMNS,
    "load_log": LOAD_LOG_COLUMNS,
    "event_changes": EVENT_CHANGES_COLUMNS,
}
# The duplicate rule (decision R8): copies of one event_id rank by these, the first is the winner.
DUPLICATE_RANK_ORDER = ("_arrival_date", "_source_file", "_line_number")


def spark_raw_ddl_json() -> str:
    """Every raw table's Spark schema, as JSON, for dbt's Spark runs (macro `spark_raw_ddl`)."""
    import json

    return json.dumps({table: spark_schema_ddl(table) for table in RAW_TABLES}, sort_keys=True)


def spark_schema_ddl(table: str, *, without: tuple[str, ...] = ()) -> str:
    """`name type, ...` of a raw table for Spark (a DDL schema string)."""
    return ", ".join(
        f"`{name}` {LOGICAL_TYPES[logical][1]}" for name, logical in RAW_TABLES[table] if name not in without
    )
