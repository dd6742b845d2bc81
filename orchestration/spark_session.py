"""The Spark session of this process (the raw loader's), and the settings every Spark session here shares.

dbt-spark (`method: session`, dbt_project/profiles.yml) starts its own session in dbt's process with the
same settings, listed once in `SESSION_CONF`. Sessions keep no catalog between processes
(`spark.sql.catalogImplementation=in-memory`): every table lives as Parquet files under the Spark
warehouse folder, and each dbt run registers the raw tables it reads (macro `spark__plan_incremental_run`).
"""

from __future__ import annotations

import os
import shutil
import threading
from typing import TYPE_CHECKING

from orchestration.config import ConfigError, Settings

if TYPE_CHECKING:  # pragma: no cover
    from pyspark.sql import SparkSession

# Every Spark session of the pipeline: UTC, no catalog kept, Parquet instants as UTC microseconds.
SESSION_CONF: dict[str, str] = {
    "spark.sql.session.timeZone": "UTC",
    "spark.sql.catalogImplementation": "in-memory",
    "spark.sql.parquet.outputTimestampType": "TIMESTAMP_MICROS",
    "spark.sql.sources.partitionOverwriteMode": "static",
    "spark.ui.enabled": "false",
    "spark.ui.showConsoleProgress": "false",
    "spark.sql.adaptive.enabled": "true",
    "spark.sql.adaptive.coalescePartitions.enabled": "true",
}
ENV_DRIVER_MEMORY = "CHAT_ANALYTICS_SPARK_DRIVER_MEMORY"
DEFAULT_DRIVER_MEMORY = "4g"

_lock = threading.Lock()
_session: SparkSession | None = None


def require_spark() -> None:
    """Fail with what to install when the Spark engine cannot run here."""
    try:
        import pyspark  # noqa: F401
    except ImportError as exc:
        raise ConfigError(
            "CHAT_ANALYTICS_ENGINE=spark needs pyspark and dbt-spark: pip install -e '.[spark]'"
        ) from exc
    if not (os.environ.get("JAVA_HOME") or shutil.which("java")):
        raise ConfigError(
            "CHAT_ANALYTICS_ENGINE=spark needs Java 17: apt-get install -y openjdk-17-jre-headless "
            "(or set JAVA_HOME)"
        )


def driver_memory() -> str:
    value = os.environ.get(ENV_DRIVER_MEMORY, DEFAULT_DRIVER_MEMORY).strip()
    if not value[:-1].isdigit() or value[-1].lower() not in "mg":
        raise ConfigError(f"{ENV_DRIVER_MEMORY} must be a size such as 4g or 512m, got {value!r}")
    return value


def spark_session(settings: Settings) -> SparkSession:
    """This process's session (created on first use, on `settings.spark_master`)."""
    global _session
    require_spark()
    from pyspark.sql import SparkSession

    with _lock:
        if _session is not None and _session.sparkContext._jsc is not None:
            return _session
        builder = SparkSession.builder.appName("chat-analytics-raw").master(settings.spark_master)
        for key, value in {**SESSION_CONF, "spark.driver.memory": driver_memory()}.items():
            builder = builder.config(key, value)
        _session = builder.getOrCreate()
        _session.sparkContext.setLogLevel("ERROR")
        return _session


def stop_spark_session() -> None:
    global _session
    with _lock:
        if _session is not None:
            _session.stop()
            _session = None
