"""Settings from the environment, read once at the edge (CLI, code location) and validated before any
of them reaches SQL or dbt. Everything downstream receives the `Settings` object, never the environment.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

PROJECT_ROOT = Path(__file__).resolve().parents[1]
DBT_PROJECT_DIR = PROJECT_ROOT / "dbt_project"
DEFAULT_DATA_DIR = PROJECT_ROOT / "data"
DEFAULT_START_DATE = date(2026, 1, 1)

ENV_LANDING_DIR = "CHAT_ANALYTICS_LANDING_DIR"
ENV_WAREHOUSE = "CHAT_ANALYTICS_WAREHOUSE"
ENV_TIMEZONE = "CHAT_ANALYTICS_TIMEZONE"
ENV_INACTIVITY = "CHAT_ANALYTICS_INACTIVITY_MINUTES"
ENV_HANDOVER_TIMEOUT = "CHAT_ANALYTICS_HANDOVER_TIMEOUT_HOURS"
ENV_START_DATE = "CHAT_ANALYTICS_START_DATE"
ENV_QUARANTINE_THRESHOLD = "CHAT_ANALYTICS_MAX_QUARANTINE_SHARE"
ENV_MEMORY_LIMIT = "CHAT_ANALYTICS_DUCKDB_MEMORY_LIMIT"
ENV_SERVING_DIR = "CHAT_ANALYTICS_SERVING_DIR"
ENV_PSEUDONYMIZE = "CHAT_ANALYTICS_PSEUDONYMIZE_CUSTOMERS"
# Read by Dagster (an `EnvVar` of the serving resource) when a run starts: the secret is never part of
# the settings, the definitions or their display in the UI. The settings only check that it is set.
ENV_PSEUDONYMIZATION_KEY = "CHAT_ANALYTICS_PSEUDONYMIZATION_KEY"
ENV_SCHEDULE_CRON = "CHAT_ANALYTICS_SCHEDULE_CRON"
ENV_SCHEDULE_TIMEZONE = "CHAT_ANALYTICS_SCHEDULE_TIMEZONE"
# The engine that loads raw and runs the dbt models (orchestration/engine.py); Spark's own settings.
ENV_ENGINE = "CHAT_ANALYTICS_ENGINE"
ENV_SPARK_MASTER = "CHAT_ANALYTICS_SPARK_MASTER"
ENV_SPARK_WAREHOUSE = "CHAT_ANALYTICS_SPARK_WAREHOUSE"
ENGINES = ("duckdb", "spark")
DEFAULT_SPARK_MASTER = "local[*]"
# DuckDB's own default is 80% of RAM; dbt's builds spill to disk past this instead (issue 4: < 6 GiB).
DEFAULT_MEMORY_LIMIT = "5GB"


_NOT_ZONES = frozenset({"localtime", "posixrules", "Factory"})
MAX_INACTIVITY_MINUTES = 525_600  # a year; dbt's guard accepts at most six digits
MAX_HANDOVER_TIMEOUT_HOURS = 8784  # a leap year; dbt's guard accepts the same
DEFAULT_HANDOVER_TIMEOUT_HOURS = 24.0
DEFAULT_TIMEZONE = "UTC"
DEFAULT_INACTIVITY_MINUTES = 10
DEFAULT_MAX_QUARANTINE_SHARE = 0.01
DEFAULT_SCHEDULE_CRON = "0 2 * * *"
SERVING_FILE = "chat_analytics.duckdb"
MIN_KEY_LENGTH = 16
_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"", "0", "false", "no", "off"}


class ConfigError(ValueError):
    """A configuration value is unusable; the message says which and how to fix it."""


def validate_timezone(name: str) -> str:
    name = name.strip()
    # ZoneInfo also accepts file paths such as "../../etc/localtime"; only IANA names are allowed.
    # "localtime" and friends are files of the system's tzdata, not zones DuckDB knows.
    if (name not in available_timezones() and name != "UTC") or name in _NOT_ZONES:
        raise ConfigError(
            f"unknown time zone {name!r}: use an IANA name such as 'UTC' or 'America/Toronto' "
            f"({ENV_TIMEZONE})"
        )
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ConfigError(f"unknown time zone {name!r} ({ENV_TIMEZONE})") from exc
    return name


def validate_inactivity(value: str | int) -> int:
    try:
        minutes = int(str(value).strip())
    except ValueError as exc:
        raise ConfigError(
            f"inactivity must be a whole number of minutes, got {value!r} ({ENV_INACTIVITY})"
        ) from exc
    if minutes <= 0:
        raise ConfigError(f"inactivity must be positive, got {minutes} ({ENV_INACTIVITY})")
    if minutes > MAX_INACTIVITY_MINUTES:
        raise ConfigError(
            f"inactivity must be at most {MAX_INACTIVITY_MINUTES} minutes, got {minutes} ({ENV_INACTIVITY})"
        )
    return minutes


def validate_handover_timeout(value: str | float, inactivity_minutes: int) -> float:
    """Rule 4's silence in hours: positive, longer than the inactivity, a whole number of seconds."""
    text = str(value).strip()
    if not re.fullmatch(r"[0-9]{1,6}(\.[0-9]{1,6})?", text):
        raise ConfigError(
            f"handover timeout must be a positive number of hours such as 24 or 1.5, got {value!r} "
            f"({ENV_HANDOVER_TIMEOUT})"
        )
    hours = float(text)
    seconds = Decimal(text) * 3600  # exact: 1.1 h is 3960 s, not 3960.0000000000005
    if seconds <= inactivity_minutes * 60:
        raise ConfigError(
            f"handover timeout ({text} h) must be longer than the inactivity ({inactivity_minutes} min) "
            f"({ENV_HANDOVER_TIMEOUT})"
        )
    if hours > MAX_HANDOVER_TIMEOUT_HOURS:
        raise ConfigError(
            f"handover timeout must be at most {MAX_HANDOVER_TIMEOUT_HOURS} hours, got {text} ({ENV_HANDOVER_TIMEOUT})"
        )
    if seconds != seconds.to_integral_value():
        raise ConfigError(
            f"handover timeout must be a whole number of seconds, got {text} h ({ENV_HANDOVER_TIMEOUT})"
        )
    return hours


def parse_date(value: str, what: str) -> date:
    try:
        return date.fromisoformat(value.strip())
    except ValueError as exc:
        raise ConfigError(f"{what} must be a date as YYYY-MM-DD, got {value!r}") from exc


def validate_share(value: str | float) -> float:
    try:
        share = float(value)
    except ValueError as exc:
        raise ConfigError(f"quarantine share must be a number between 0 and 1, got {value!r}") from exc
    if not 0.0 <= share <= 1.0:
        raise ConfigError(f"quarantine share must be between 0 and 1, got {share}")
    return share


def validate_memory_limit(value: str) -> str:
    """A DuckDB size such as '4GB' or '512MiB'; it is pasted into dbt's profile, so nothing else passes."""
    text = value.strip()
    if not re.fullmatch(r"[1-9][0-9]{0,6}(\.[0-9]+)?\s?(KB|MB|GB|TB|KiB|MiB|GiB|TiB)", text, re.IGNORECASE):
        raise ConfigError(
            f"DuckDB memory limit must be a size such as '4GB' or '512MiB', got {value!r} ({ENV_MEMORY_LIMIT})"
        )
    return text


def parse_flag(value: str, variable: str) -> bool:
    text = value.strip().lower()
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    raise ConfigError(f"{variable} must be 1 or 0 (true/false, yes/no, on/off), got {value!r}")


def validate_serving_dir(value: str, warehouse: Path) -> Path:
    if not value.strip():
        raise ConfigError(f"the serving directory is empty ({ENV_SERVING_DIR})")
    if "\x00" in value:
        raise ConfigError(f"the serving directory contains a NUL character ({ENV_SERVING_DIR})")
    path = Path(value).expanduser().resolve()
    if path.exists() and not path.is_dir():
        raise ConfigError(f"the serving directory {path} is a file, not a directory ({ENV_SERVING_DIR})")
    if path / SERVING_FILE == warehouse or path == warehouse:
        raise ConfigError(
            f"the serving directory {path} would overwrite the warehouse {warehouse}: "
            f"choose another {ENV_SERVING_DIR}"
        )
    return path


def validate_pseudonymization_key(key: str | bytes | None) -> None:
    """The key must be there and long; its value is never part of a message."""
    if key is None or len(key) < MIN_KEY_LENGTH:
        raise ConfigError(
            f"{ENV_PSEUDONYMIZE} is on but {ENV_PSEUDONYMIZATION_KEY} is missing or shorter than "
            f"{MIN_KEY_LENGTH} characters: set it to a long random secret (e.g. `openssl rand -hex 32`)"
        )


def validate_cron(value: str) -> str:
    from dagster._utils.schedules import is_valid_cron_string

    text = value.strip()
    if not is_valid_cron_string(text):
        raise ConfigError(
            f"the schedule must be a cron expression such as '0 2 * * *', got {value!r} ({ENV_SCHEDULE_CRON})"
        )
    return text


def validate_engine(value: str) -> str:
    engine = value.strip().lower()
    if engine not in ENGINES:
        raise ConfigError(f"unknown engine {value!r}: use one of {', '.join(ENGINES)} ({ENV_ENGINE})")
    return engine


# local, local[N], local[*], local[N,F], spark://host:port[,host:port], k8s://..., yarn: the master URL
# reaches dbt's profile and the Spark session as a string, so nothing else passes.
_SPARK_MASTER = re.compile(
    r"local(\[(\*|[1-9][0-9]{0,3})(,[0-9]{1,3})?\])?|yarn|(spark|k8s|mesos)://[A-Za-z0-9._:/,\[\]-]+"
)


def validate_spark_master(value: str) -> str:
    master = value.strip()
    if not _SPARK_MASTER.fullmatch(master):
        raise ConfigError(
            f"unknown Spark master {value!r}: use local[*], local[N], spark://host:7077, k8s://https://host "
            f"or yarn ({ENV_SPARK_MASTER})"
        )
    return master


def _absolute_path(value: str, what: str) -> Path:
    if not value.strip():
        raise ConfigError(f"{what} is empty")
    if "\x00" in value:
        raise ConfigError(f"{what} contains a NUL character")
    return Path(value).expanduser().resolve()


@dataclass(frozen=True)
class Settings:
    """Every setting of a run; built by `from_env` at the edge, or directly by tests and benchmarks."""

    landing_dir: Path
    warehouse: Path
    timezone: str = DEFAULT_TIMEZONE
    inactivity_minutes: int = DEFAULT_INACTIVITY_MINUTES
    handover_timeout_hours: float = DEFAULT_HANDOVER_TIMEOUT_HOURS
    start_date: date = DEFAULT_START_DATE
    max_quarantine_share: float = DEFAULT_MAX_QUARANTINE_SHARE
    duckdb_memory_limit: str = DEFAULT_MEMORY_LIMIT
    # None: `serving/` beside the warehouse (see `serving_path`).
    serving_dir: Path | None = None
    pseudonymize_customers: bool = False
    schedule_cron: str = DEFAULT_SCHEDULE_CRON
    # None: the reporting time zone.
    schedule_timezone: str | None = None
    engine: str = "duckdb"
    spark_master: str = DEFAULT_SPARK_MASTER
    # None: `spark-warehouse/` beside the DuckDB warehouse file (raw Parquet tables and dbt's builds).
    spark_warehouse_dir: Path | None = None

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if environ is None else environ
        inactivity_minutes = validate_inactivity(env.get(ENV_INACTIVITY, str(DEFAULT_INACTIVITY_MINUTES)))
        warehouse = _absolute_path(
            env.get(ENV_WAREHOUSE, str(DEFAULT_DATA_DIR / "warehouse.duckdb")), ENV_WAREHOUSE
        )
        timezone = validate_timezone(env.get(ENV_TIMEZONE, DEFAULT_TIMEZONE))
        pseudonymize = parse_flag(env.get(ENV_PSEUDONYMIZE, ""), ENV_PSEUDONYMIZE)
        if pseudonymize:
            validate_pseudonymization_key(env.get(ENV_PSEUDONYMIZATION_KEY))
        return cls(
            landing_dir=_absolute_path(
                env.get(ENV_LANDING_DIR, str(DEFAULT_DATA_DIR / "landing")), ENV_LANDING_DIR
            ),
            warehouse=warehouse,
            timezone=timezone,
            inactivity_minutes=inactivity_minutes,
            handover_timeout_hours=validate_handover_timeout(
                env.get(ENV_HANDOVER_TIMEOUT, "24"), inactivity_minutes
            ),
            start_date=parse_date(env.get(ENV_START_DATE, DEFAULT_START_DATE.isoformat()), ENV_START_DATE),
            max_quarantine_share=validate_share(
                env.get(ENV_QUARANTINE_THRESHOLD, str(DEFAULT_MAX_QUARANTINE_SHARE))
            ),
            duckdb_memory_limit=validate_memory_limit(env.get(ENV_MEMORY_LIMIT, DEFAULT_MEMORY_LIMIT)),
            serving_dir=(
                validate_serving_dir(env[ENV_SERVING_DIR], warehouse) if ENV_SERVING_DIR in env else None
            ),
            pseudonymize_customers=pseudonymize,
            schedule_cron=validate_cron(env.get(ENV_SCHEDULE_CRON, DEFAULT_SCHEDULE_CRON)),
            schedule_timezone=(
                validate_timezone(env[ENV_SCHEDULE_TIMEZONE]) if ENV_SCHEDULE_TIMEZONE in env else None
            ),
            engine=validate_engine(env.get(ENV_ENGINE, "duckdb")),
            spark_master=validate_spark_master(env.get(ENV_SPARK_MASTER, DEFAULT_SPARK_MASTER)),
            spark_warehouse_dir=(
                _absolute_path(env[ENV_SPARK_WAREHOUSE], ENV_SPARK_WAREHOUSE)
                if env.get(ENV_SPARK_WAREHOUSE)
                else None
            ),
        )

    @property
    def spark_warehouse(self) -> Path:
        """The Spark warehouse folder: raw Parquet tables, dbt's builds (a folder, or object storage)."""
        return self.spark_warehouse_dir or self.warehouse.parent / "spark-warehouse"

    @property
    def handover_timeout_seconds(self) -> int:
        return int(Decimal(repr(self.handover_timeout_hours)) * 3600)

    @property
    def serving_path(self) -> Path:
        """Where the serving snapshot is published: `serving_dir`, or `serving/` beside the warehouse."""
        return validate_serving_dir(
            str(self.serving_dir or self.warehouse.parent / "serving"), self.warehouse
        )

    @property
    def schedule_zone(self) -> str:
        return self.schedule_timezone or self.timezone

    @property
    def dbt_target(self) -> str:
        """The output of dbt_project/profiles.yml that runs the models: `dev` (DuckDB) or `spark`."""
        return "spark" if self.engine == "spark" else "dev"

    def dbt_vars(self) -> dict[str, str | int]:
        """The project vars (and profile values) of a dbt invocation, all validated.

        Passed as `--vars` on dbt's command line, the same at parse and at run time so that dbt's partial
        parsing stays valid (decision O12); a plain dbt run reads the same values from the environment.
        """
        dbt_vars: dict[str, str | int] = {
            # absolute: dbt runs in dbt_project/, not in this process's working directory
            "warehouse": str(self.warehouse.resolve()),
            "duckdb_memory_limit": self.duckdb_memory_limit,
            "reporting_timezone": self.timezone,
            "conversation_inactivity_minutes": self.inactivity_minutes,
            "handover_timeout_hours": f"{self.handover_timeout_hours:f}".rstrip("0").rstrip("."),
        }
        if self.engine == "spark":
            from orchestration.raw_contract import spark_raw_ddl_json

            dbt_vars.update(
                {
                    "spark_master": self.spark_master,
                    "spark_warehouse": str(self.spark_warehouse),
                    # the raw tables' Spark schema, rendered from the one raw contract
                    "spark_raw_ddl": spark_raw_ddl_json(),
                }
            )
        return dbt_vars

    def dbt_cli_args(self) -> list[str]:
        """`--target` and `--vars` of every dbt invocation (parse, build, unit tests)."""
        return ["--target", self.dbt_target, "--vars", json.dumps(self.dbt_vars(), sort_keys=True)]
