"""A workspace: one folder holding the config, the lake, the secrets and serving files.

::

    W/parcours.toml        settings (see parcours.settings)
    W/lake/<tenant>/<zone>/<table>/   Delta tables
    W/secrets/<tenant>.key tenant secrets (owner-only, outside the lake)
    W/spool/               the collector's durable spool
    W/serving/             the serving store for per-customer reads
    W/state/               users, tokens, write keys (hashed)
    W/audit/               per-tenant audit logs
    W/demo/truth.json      the demo world's planted truth
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from parcours.errors import WorkspaceError
from parcours.lake import ZONES, Lake, check_name
from parcours.privacy.keys import KeyStore
from parcours.settings import CONFIG_FILE, Settings, default_toml, load_settings

if TYPE_CHECKING:
    import ibis.expr.types as ir
    import pyarrow as pa

    from parcours.engine import Engine
    from parcours.journeys import Journeys


class Workspace:
    """The entry point of the Python API.

    Example:
        >>> import parcours
        >>> ws = parcours.open("demo-workspace")                   # doctest: +SKIP
        >>> ws.table("energie", "events").count().to_pandas()     # doctest: +SKIP
    """

    def __init__(self, path: str | Path, settings: Settings) -> None:
        self.path = Path(path).resolve()
        self.settings = settings
        lake_uri = Path(settings.lake.uri)
        self.lake = Lake(lake_uri if lake_uri.is_absolute() else self.path / lake_uri)
        self.keys = KeyStore(self.path / "secrets", settings.privacy.master_key_env)
        self._engine: Engine | None = None

    def __repr__(self) -> str:
        return f"Workspace({str(self.path)!r}, engine={self.settings.engine.kind!r})"

    # -- folders ---------------------------------------------------------------------
    @property
    def spool_dir(self) -> Path:
        return self.path / self.settings.collect.spool_dir

    @property
    def state_dir(self) -> Path:
        return self.path / "state"

    @property
    def serving_dir(self) -> Path:
        return self.path / "serving"

    @property
    def audit_dir(self) -> Path:
        return self.path / "audit"

    # -- tenants ---------------------------------------------------------------------
    def tenants(self) -> list[str]:
        """Tenants are those with a secret (created through :meth:`create_tenant`)."""
        folder = self.keys.folder
        if not folder.is_dir():
            return []
        return sorted(p.stem for p in folder.glob("*.key"))

    def create_tenant(self, tenant: str) -> None:
        """Create a tenant: its secret, and empty tables so every reader finds a schema."""
        check_name("tenant", tenant)
        self.keys.create(tenant)

    def require_tenant(self, tenant: str) -> str:
        check_name("tenant", tenant)
        if not self.keys.exists(tenant):
            from parcours.errors import NotFoundError

            raise NotFoundError(f"unknown tenant {tenant!r}", tenant=tenant)
        return tenant

    # -- data ------------------------------------------------------------------------
    @property
    def engine(self) -> Engine:
        if self._engine is None:
            from parcours.engine import connect

            self._engine = connect(self.lake, self.settings)
        return self._engine

    def table(self, tenant: str, name: str, zone: str = "analytics") -> ir.Table:
        """An Ibis table over the current snapshot of a lake table, on the chosen engine."""
        self.require_tenant(tenant)
        return self.engine.table(tenant, name, zone)

    def write(self, tenant: str, name: str, data: pa.Table) -> int:
        """Write rows to the raw zone and their pseudonymized copy to the analytics zone.

        The path real data and the demo world both take. Returns the rows written.
        """
        from parcours.events import conform, spec
        from parcours.privacy.zones import after_write, analytics_copy

        self.require_tenant(tenant)
        s = spec(name)
        data = conform(s, data)
        # the copy first: if the secret cannot be read (sealed, no master key), nothing is
        # written and the zones stay in step
        pseudo = analytics_copy(self, tenant, s, data)
        self.lake.append(tenant, "raw", name, data, spec_=s)
        self.lake.append(tenant, "analytics", name, pseudo, spec_=s)
        after_write(self, tenant, s, data)
        return data.num_rows

    def sql(self, tenant: str, query: str, zone: str = "analytics") -> pa.Table:
        """Run read-only SQL over one tenant's tables of one zone (see parcours.engine.sql)."""
        from parcours.engine.sql import run_sql

        self.require_tenant(tenant)
        if zone not in ZONES:
            from parcours.lake.errors import InvalidNameError

            raise InvalidNameError(f"invalid zone {zone!r}", kind="zone")
        return run_sql(self.lake, tenant, zone, query)

    @property
    def journeys(self) -> Journeys:
        """Journey analyses (paths, funnels, precursors, channels, retention)."""
        from parcours.journeys import Journeys

        return Journeys(self)

    def customer(self, tenant: str, key: str, **options: Any) -> Any:
        """The 360° view of the customer behind ``key`` (any identifier or a profile id).

        Options: ``zone`` ("raw", nominative and audited, or "analytics"), ``channel``,
        ``page``, ``page_size`` — see :func:`parcours.identity.view.customer`.
        """
        from parcours.identity.view import customer

        return customer(self, tenant, key, **options)

    def close(self) -> None:
        if self._engine is not None:
            self._engine.close()
            self._engine = None


def init(path: str | Path) -> Workspace:
    """Create a workspace folder with a commented ``parcours.toml`` (idempotent)."""
    root = Path(path)
    root.mkdir(parents=True, exist_ok=True)
    config = root / CONFIG_FILE
    if not config.exists():
        config.write_text(default_toml(), encoding="utf-8")
    for sub in ("lake", "spool", "serving", "state", "audit"):
        (root / sub).mkdir(exist_ok=True)
    return open_workspace(root)


def open_workspace(path: str | Path = ".", **overrides: Any) -> Workspace:
    """Open an existing workspace.

    Args:
        path: the workspace folder (holding ``parcours.toml``).
        overrides: settings by section, e.g. ``engine={"kind": "spark"}``.
    """
    root = Path(path)
    if not (root / CONFIG_FILE).exists():
        raise WorkspaceError(
            f"{root} is not a parcours workspace (no {CONFIG_FILE}): run `parcours init {root}`",
            path=str(root),
        )
    return Workspace(root, load_settings(root, overrides=overrides))
