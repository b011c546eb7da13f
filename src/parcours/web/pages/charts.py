"""Plotly figure specs built as plain dicts (no plotly.py import: pages stay fast).

The hub's JS (static/hub.js) draws every ``<script type="application/json"
data-chart>`` it finds with the locally served plotly.js.
"""

from __future__ import annotations

import json
from typing import Any

#: One colour per known channel, so a channel keeps its colour on every page.
PALETTE = [
    "#2563eb", "#16a34a", "#dc2626", "#9333ea", "#ea580c", "#0891b2",
    "#ca8a04", "#db2777", "#4b5563", "#65a30d", "#7c3aed", "#0d9488",
]

FONT = {"family": "system-ui, -apple-system, 'Segoe UI', Roboto, sans-serif", "size": 12}


def layout(**extra: Any) -> dict[str, Any]:
    """A compact layout that fits a phone and a laptop (responsive in hub.js)."""
    base: dict[str, Any] = {
        "font": FONT,
        "margin": {"l": 48, "r": 16, "t": 16, "b": 40},
        "legend": {"orientation": "h", "y": -0.2},
        "paper_bgcolor": "rgba(0,0,0,0)",
        "plot_bgcolor": "rgba(0,0,0,0)",
        "hovermode": "closest",
    }
    base.update(extra)
    return base


def figure(data: list[dict[str, Any]], **layout_extra: Any) -> str:
    """A figure as the JSON text a page embeds."""
    text = json.dumps({"data": data, "layout": layout(**layout_extra)}, default=str)
    # the JSON sits inside <script>: never let a value close the element
    return text.replace("</", "<\\/")


def colour(i: int) -> str:
    return PALETTE[i % len(PALETTE)]
