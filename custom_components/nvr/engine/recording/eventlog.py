"""The per-day events logs that let a rebuilt index get its events back (see :mod:`.archive`)."""

from __future__ import annotations

import json
import logging
from pathlib import Path

from .index import Event
from .layout import events_log_relpath

_LOGGER = logging.getLogger(__name__)


def append_event_log(root: Path, event: Event, label: str) -> None:
    """Append a finished event to its channel's log for the day it started (errors are logged)."""
    path = root / events_log_relpath(event.channel, event.start)
    line = json.dumps(
        {
            "id": event.id,
            "kind": event.kind,
            "start": event.start,
            "end": event.end,
            "score": event.score,
            "thumbnail": event.thumbnail,
        }
    )
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("a", encoding="utf-8") as handle:
            handle.write(line + "\n")
    except OSError as err:
        _LOGGER.debug("Events log of %s not written: %s", label, err)
