"""Identity: stitch identifiers into profiles, and the customer 360° view.

* :func:`resolve` builds the identity graph (identify/alias calls, identifiers seen
  together, reference data), applies the guard rails, computes connected components as
  Ibis expressions (DuckDB or Spark) and writes ``identity_map``, ``identity_edges`` and
  ``profiles``.
* :func:`events_with_profiles` gives events their profile through the map.
"""

from __future__ import annotations

from parcours.identity.api import events_with_profiles, identity_map, profiles_of
from parcours.identity.resolve import ResolveResult, resolve
from parcours.identity.rules import IdentityRules
from parcours.identity.view import Customer360, customer, find_profile

__all__ = [
    "Customer360",
    "customer",
    "find_profile",
    "IdentityRules",
    "ResolveResult",
    "events_with_profiles",
    "identity_map",
    "profiles_of",
    "resolve",
]
