"""Collect: the Segment-compatible HTTP collector, the durable spool, the loader,
quarantine, file import and the Kafka source.

Data path::

    SDK ──HTTP──► collector (ASGI, msgspec) ──fdatasync──► spool segment ──► loader ──► lake
                                   └──acks=all──► Kafka topic ────consumer group──┘
"""

from __future__ import annotations

__all__ = ["keys", "loader", "quarantine"]
