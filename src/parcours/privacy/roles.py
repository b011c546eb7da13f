"""The roles of parcours and what each may do.

========================  =======================================================
role                      may
========================  =======================================================
``admin``                 everything in its tenants, users included
``data_manager``          raw zone, imports, data quality, GDPR export and erasure
``data_scientist``        the analytics (pseudonymized) zone only
``advisor``               one customer at a time, nominative, every read audited
``manager``               aggregates only (dashboards, journeys, segment sizes)
========================  =======================================================
"""

from __future__ import annotations

ROLES: tuple[str, ...] = ("admin", "data_manager", "data_scientist", "advisor", "manager")

#: Roles that read nominative (raw-zone) data; their reads of a person are audited.
NOMINATIVE_ROLES: frozenset[str] = frozenset({"admin", "data_manager", "advisor"})

#: Roles that may query the raw zone through SQL.
RAW_SQL_ROLES: frozenset[str] = frozenset({"admin", "data_manager"})


def check_role(role: str) -> str:
    """Return ``role`` if it is known, else raise :class:`UserError` naming the roles."""
    from parcours.privacy.errors import UserError

    if role not in ROLES:
        raise UserError(f"unknown role {role!r}; roles: {', '.join(ROLES)}", role=role)
    return role
