"""One typed settings object, resolved in layers.

Precedence, highest first: explicit arguments > ``PARCOURS__SECTION__KEY``
environment variables > ``parcours.toml`` in the workspace > defaults.
Unknown keys are rejected everywhere, so a typo never silently does nothing.
"""

from __future__ import annotations

import os
import tomllib
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError

from parcours.errors import ConfigError

CONFIG_FILE = "parcours.toml"
ENV_PREFIX = "PARCOURS__"


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True)


class EngineSettings(_Section):
    """Which engine runs the analytics."""

    kind: Literal["duckdb", "spark"] = Field(
        "duckdb", description="duckdb (embedded, default) or spark (local mode or a cluster)."
    )
    spark_master: str = Field(
        "local[2]", description="Spark master URL: local[N] or spark://host:port, yarn, k8s://…"
    )
    duckdb_threads: int | None = Field(
        None, ge=1, description="DuckDB worker threads; default: one per core."
    )
    duckdb_memory_limit: str | None = Field(
        None, description="DuckDB memory limit such as '4GB'; default: DuckDB's own (80% of RAM)."
    )


class LakeSettings(_Section):
    """Where and how tables are stored."""

    uri: str = Field(
        "lake", description="Lake root, relative to the workspace or absolute (s3://… at scale)."
    )
    target_file_mb: int = Field(128, ge=1, description="Target Parquet file size for compaction.")


class CollectSettings(_Section):
    """The collector, the spool and the loader."""

    sink: Literal["spool", "kafka"] = Field(
        "spool", description="Where acknowledged events are made durable: local spool or Kafka."
    )
    spool_dir: str = Field("spool", description="Spool folder, relative to the workspace.")
    batch_max_events: int = Field(
        200_000, ge=1, description="The loader commits a micro-batch at this many events…"
    )
    batch_max_seconds: float = Field(
        5.0, gt=0, description="…or when its oldest event is this old."
    )
    max_event_bytes: int = Field(32 * 1024, description="Segment's limit per event.")
    max_batch_bytes: int = Field(500 * 1024, description="Segment's limit per batch request.")
    kafka_bootstrap: str = Field("", description="Kafka bootstrap servers (host:port,…).")
    kafka_topic: str = Field("parcours-events", description="Kafka topic of collected events.")
    kafka_group: str = Field("parcours-loader", description="Consumer group of the loader.")


class ServeSettings(_Section):
    """The HTTP server (collector, API, data hub)."""

    host: str = Field("127.0.0.1", description="Interface to listen on.")
    port: int = Field(8000, ge=1, le=65535, description="Port to listen on.")
    workers: int = Field(1, ge=1, description="Worker processes for the server.")
    warm_up: bool = Field(
        True, description="Compute the hub's cached aggregates when the server starts "
        "(off for a node that serves only the API and the collector)."
    )
    session_secret: SecretStr | None = Field(
        None, description="Secret signing the web session cookie; generated per workspace if unset."
    )


class PrivacySettings(_Section):
    """Pseudonymization and key custody."""

    master_key_env: str = Field(
        "PARCOURS_MASTER_KEY",
        description="Environment variable holding an optional master key that seals tenant secrets.",
    )


class Settings(_Section):
    """All of parcours' settings. Every field is documented; unknown keys are errors."""

    engine: EngineSettings = Field(default_factory=EngineSettings)
    lake: LakeSettings = Field(default_factory=LakeSettings)
    collect: CollectSettings = Field(default_factory=CollectSettings)
    serve: ServeSettings = Field(default_factory=ServeSettings)
    privacy: PrivacySettings = Field(default_factory=PrivacySettings)


def _deep_merge(base: dict[str, Any], top: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in top.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = _deep_merge(out[key], value)
        else:
            out[key] = value
    return out


def _from_env(environ: dict[str, str]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name, value in environ.items():
        if not name.startswith(ENV_PREFIX):
            continue
        parts = [p.lower() for p in name[len(ENV_PREFIX) :].split("__") if p]
        if not parts:
            continue
        node = out
        for part in parts[:-1]:
            node = node.setdefault(part, {})
            if not isinstance(node, dict):
                raise ConfigError(f"environment variable {name} conflicts with another one", key=name)
        node[parts[-1]] = value
    return out


def _describe(exc: ValidationError, origin: str) -> str:
    problems = []
    for err in exc.errors():
        where = ".".join(str(p) for p in err["loc"])
        msg = "unknown setting" if err["type"] == "extra_forbidden" else err["msg"]
        problems.append(f"{where}: {msg}")
    return f"invalid settings ({origin}): " + "; ".join(problems)


def load_settings(
    workspace: str | Path | None = None,
    overrides: dict[str, Any] | None = None,
    environ: dict[str, str] | None = None,
) -> Settings:
    """Resolve the settings of a workspace.

    Args:
        workspace: folder holding ``parcours.toml`` (optional).
        overrides: explicit values, nested by section: ``{"engine": {"kind": "spark"}}``.
        environ: environment to read ``PARCOURS__…`` variables from (default ``os.environ``).
    """
    layers: list[tuple[str, dict[str, Any]]] = []
    if workspace is not None:
        path = Path(workspace) / CONFIG_FILE
        if path.exists():
            try:
                layers.append((str(path.name), tomllib.loads(path.read_text(encoding="utf-8"))))
            except tomllib.TOMLDecodeError as exc:
                raise ConfigError(f"{path.name} is not valid TOML: {exc}", file=str(path)) from exc
    layers.append(("environment", _from_env(dict(os.environ if environ is None else environ))))
    layers.append(("arguments", overrides or {}))
    merged: dict[str, Any] = {}
    for origin, layer in layers:
        try:  # validate each layer alone first, so the error names where the typo is
            Settings.model_validate(_deep_merge({}, layer))
        except ValidationError as exc:
            raise ConfigError(_describe(exc, origin)) from exc
        merged = _deep_merge(merged, layer)
    try:
        return Settings.model_validate(merged)
    except ValidationError as exc:  # pragma: no cover - each layer validated above
        raise ConfigError(_describe(exc, "merged")) from exc


def default_toml() -> str:
    """The commented ``parcours.toml`` that ``parcours init`` writes."""
    lines = ["# parcours settings. Environment variables PARCOURS__SECTION__KEY override these."]
    for name, field in Settings.model_fields.items():
        section_model = field.default_factory() if field.default_factory else None  # type: ignore[call-arg]
        if section_model is None:
            continue
        lines.append("")
        lines.append(f"[{name}]")
        for key, sub in type(section_model).model_fields.items():
            lines.append(f"# {sub.description}")
            value = getattr(section_model, key)
            if value is None or isinstance(value, SecretStr):
                lines.append(f"# {key} =")
            elif isinstance(value, str):
                lines.append(f'# {key} = "{value}"')
            elif isinstance(value, bool):
                lines.append(f"# {key} = {str(value).lower()}")
            else:
                lines.append(f"# {key} = {value}")
    return "\n".join(lines) + "\n"
