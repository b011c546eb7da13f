"""The rules of identity resolution: which identifiers link, and the guard rails."""

from __future__ import annotations

from dataclasses import dataclass, field

#: Identifier types that join profiles. Others (name, address, iban, ip) are attributes:
#: households share them, so they never link two identifiers.
LINKING_TYPES = (
    "customer_number",
    "user_id",
    "card_id",
    "email",
    "phone",
    "meter_point",
    "device_id",
    "anonymous_id",
    "social_handle",
    "previous_id",
)

#: Anchors: identifier types one real person holds one (or very few) of. They seed the
#: split of an over-merged component and count in the shared-identifier rule.
ANCHOR_TYPES = ("customer_number", "user_id", "card_id")


@dataclass(frozen=True)
class IdentityRules:
    """Guard rails against over-merging.

    Attributes:
        max_per_profile: at most this many identifiers of a type in one profile. A
            component exceeding a cap for an anchor type is split around its anchors
            (each identifier joins its nearest anchor); the edges across are cut.
        max_anchor_neighbors: an identifier seen (in the same events or rows) with more
            than this many distinct anchor values of one type is *shared* (a household
            tablet, a generic email, a placeholder phone): kept as an attribute of every
            profile it was seen with, cut from the graph.
        max_degree: an identifier seen with more than this many distinct identifiers of
            any type is shared as well.
        same_value_types: a ``user_id`` often *is* a customer number, card id or email, and
            an alias' ``previous_id`` is the anonymous id or the user id it replaces: an
            identifier of one of these types links to every identifier of another type
            with the same value.
    """

    max_per_profile: dict[str, int] = field(
        default_factory=lambda: {
            "customer_number": 1,
            "user_id": 1,
            "card_id": 3,
            "email": 3,
            "phone": 3,
            "device_id": 5,
            "social_handle": 2,
        }
    )
    max_anchor_neighbors: dict[str, int] = field(
        default_factory=lambda: {"customer_number": 1, "user_id": 1, "card_id": 3}
    )
    max_degree: int = 200
    linking_types: tuple[str, ...] = LINKING_TYPES
    anchor_types: tuple[str, ...] = ANCHOR_TYPES
    same_value_types: tuple[str, ...] = ("user_id", "previous_id")
    max_iterations: int = 100
