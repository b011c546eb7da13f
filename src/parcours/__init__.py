"""parcours — an open-source customer-data and customer-journey platform.

Quick start::

    import parcours
    ws = parcours.open("demo-workspace")
    events = ws.table("energie", "events")
    events.group_by("channel").count().to_pandas()
"""

from __future__ import annotations

from parcours.errors import ParcoursError
from parcours.settings import Settings, load_settings
from parcours.workspace import Workspace, init
from parcours.workspace import open_workspace as open

__version__ = "0.1.0"

__all__ = ["ParcoursError", "Settings", "Workspace", "__version__", "init", "load_settings", "open"]
