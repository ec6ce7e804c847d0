"""Keep FFmpeg's log calls out of Python for as long as Home Assistant runs.

HA's ``stream`` turns PyAV's Python log hook on when it sets up, and again
whenever its logger's level changes (see engine/libav.py for what the hook
costs and how it froze HA). The engine's own decoders are safe either way;
this keeps FFmpeg's threads elsewhere in the process from needing the GIL.
"""

from __future__ import annotations

import logging

from homeassistant.const import EVENT_COMPONENT_LOADED, EVENT_LOGGING_CHANGED
from homeassistant.core import Event, HomeAssistant, callback

from .engine import silence_log_hook

_LOGGER = logging.getLogger(__name__)


@callback
def async_keep_ffmpeg_log_hook_off(hass: HomeAssistant) -> None:
    """Turn the hook off now, and again after anything that may turn it on (for the rest of the run)."""

    @callback
    def _silence() -> None:
        if silence_log_hook():
            _LOGGER.debug("PyAV's Python log hook turned off: FFmpeg's threads must never wait for the GIL")

    @callback
    def _after_listeners(_event: Event) -> None:
        # After the event's other listeners: stream's own turns the hook back on.
        hass.loop.call_soon(_silence)

    _silence()
    hass.bus.async_listen(EVENT_LOGGING_CHANGED, _after_listeners)
    hass.bus.async_listen(EVENT_COMPONENT_LOADED, _after_listeners)
