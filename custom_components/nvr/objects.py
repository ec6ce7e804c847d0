"""Object detection in Home Assistant: the shared worker, each channel's settings and its news.

One :class:`ObjectWorker` (one thread, the model loaded at its first use)
serves every channel of every NVR entry; it stops with Home Assistant.
Each channel's :class:`ChannelObjects` hands its object events to the
event loop, where they go to the channel's "Person" and "Vehicle" sensors
and event entity (by dispatcher) and to the bus as ``nvr_object``.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from homeassistant.const import EVENT_HOMEASSISTANT_STOP
from homeassistant.core import Event, HomeAssistant, callback
from homeassistant.helpers import entity_registry as er
from homeassistant.helpers.dispatcher import async_dispatcher_send
from homeassistant.util import dt as dt_util

from .const import (
    CONF_OBJECT_MIN_SCORE,
    CONF_OBJECTS,
    DEFAULT_OBJECT_MIN_SCORE,
    DOMAIN,
    EVENT_OBJECT,
    object_signal,
)
from .engine import OBJECT_LABELS, ObjectConfig, ObjectUpdate, ObjectWorker
from .repairs import async_raise_object_detection_issue

_LOGGER = logging.getLogger(__name__)

DATA_OBJECTS = f"{DOMAIN}_objects"
OBJECTS_FAILED_SIGNAL = f"{DOMAIN}_objects_failed"
"""Dispatcher signal sent when the object detection model could not be loaded."""
WORKER_STOP_TIMEOUT = 5.0


@dataclass
class ObjectState:
    """What Home Assistant shows of a channel's object detection (event loop only)."""

    present: dict[str, ObjectUpdate] = field(default_factory=dict)
    """The labels seen now, with their events' latest news."""
    seen: dict[str, float] = field(default_factory=dict)
    """Each label seen since the channel's motion event began, with its best score (told at the motion's end)."""


def object_config(data: Mapping[str, Any]) -> ObjectConfig:
    """A channel's object detection settings (unknown labels and bad scores are left out)."""
    raw = data.get(CONF_OBJECTS) or []
    labels = tuple(label for label in OBJECT_LABELS if label in raw) if isinstance(raw, list | tuple) else ()
    try:
        score = float(data.get(CONF_OBJECT_MIN_SCORE, DEFAULT_OBJECT_MIN_SCORE))
    except (TypeError, ValueError):
        score = DEFAULT_OBJECT_MIN_SCORE
    return ObjectConfig(labels, min(0.95, max(0.2, score / 100)))


def get_object_worker(hass: HomeAssistant) -> ObjectWorker:
    """The object worker of this run of Home Assistant (its thread starts when a picture is first offered).

    If its model cannot be loaded, a repair issue says so and the channels' Person and Vehicle sensors
    become unavailable; motion detection and recording go on.
    """
    worker: ObjectWorker | None = hass.data.get(DATA_OBJECTS)
    if worker is None:

        @callback
        def _failed(reason: str) -> None:
            async_raise_object_detection_issue(hass, reason)
            async_dispatcher_send(hass, OBJECTS_FAILED_SIGNAL)

        def _failed_in_thread(reason: str) -> None:
            with contextlib.suppress(RuntimeError):  # the loop closed meanwhile
                hass.loop.call_soon_threadsafe(_failed, reason)

        worker = hass.data[DATA_OBJECTS] = ObjectWorker(on_failure=_failed_in_thread)

        async def _async_stop(_event: Event) -> None:
            hass.data.pop(DATA_OBJECTS, None)
            if not await hass.async_add_executor_job(worker.stop, WORKER_STOP_TIMEOUT):
                _LOGGER.warning("Object detection did not stop in time")

        hass.bus.async_listen_once(EVENT_HOMEASSISTANT_STOP, _async_stop)
    return worker


def object_handler(
    hass: HomeAssistant, entry_id: str, subentry_id: str, name: str, state: ObjectState, root: Path | None
) -> Callable[[ObjectUpdate], None]:
    """What handles a channel's object news on the event loop (the caller hands it over from the threads)."""
    signal = object_signal(entry_id, subentry_id)

    @callback
    def _on_loop(update: ObjectUpdate) -> None:
        if update.kind == "object_start":
            state.present[update.label] = update
        else:
            state.present.pop(update.label, None)
        state.seen[update.label] = max(state.seen.get(update.label, 0.0), round(update.score, 2))
        async_dispatcher_send(hass, signal, update)
        registry = er.async_get(hass)
        camera = registry.async_get_entity_id("camera", DOMAIN, f"{subentry_id}_main")
        device = (entity := registry.async_get(camera)) and entity.device_id if camera else None
        where = {
            "entry_id": entry_id,
            "channel_id": subentry_id,
            "channel": name,
            "entity_id": camera,
            "device_id": device,
        }
        hass.bus.async_fire(EVENT_OBJECT, where | update_data(update, root))

    return _on_loop


def update_data(update: ObjectUpdate, root: Path | None) -> dict[str, Any]:
    """What an object event says on the bus and on the event entity."""
    return {
        "event_id": update.event_id,
        "kind": "start" if update.kind == "object_start" else "end",
        "label": update.label,
        "score": round(update.score, 2),
        "box": [round(v, 4) for v in update.box],
        "start": dt_util.utc_from_timestamp(update.start).isoformat(),
        "end": dt_util.utc_from_timestamp(update.end).isoformat() if update.end is not None else None,
        "snapshot": str(root / update.thumbnail) if root is not None and update.thumbnail else None,
    }
