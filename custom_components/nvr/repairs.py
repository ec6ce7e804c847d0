"""Repair issues for channels whose feed stays down."""

from __future__ import annotations

from homeassistant.core import CALLBACK_TYPE, HomeAssistant, callback
from homeassistant.helpers import issue_registry as ir
from homeassistant.helpers.event import async_call_later

from .const import CHANNEL_OFFLINE_GRACE, DOMAIN
from .engine import MAIN, FailureReason, StreamStatus


class ChannelIssues:
    """Raises and clears the repair issue of one channel's main stream.

    A wrong password is reported at once; any other loss only after a grace
    period, so a camera reboot does not raise an issue.
    """

    def __init__(self, hass: HomeAssistant, entry_id: str, subentry_id: str, name: str) -> None:
        """Track one channel."""
        self._hass = hass
        self._name = name
        self._issue_id = f"channel_offline_{entry_id}_{subentry_id}"
        self._timer: CALLBACK_TYPE | None = None
        self._reason: FailureReason | None = None

    @callback
    def async_update(self, role: str, status: StreamStatus) -> None:
        """Follow a status change of the channel."""
        if role != MAIN:
            return
        if status.connected:
            self._cancel_timer()
            ir.async_delete_issue(self._hass, DOMAIN, self._issue_id)
            self._reason = None
            return
        self._reason = status.failure or FailureReason.CANNOT_CONNECT
        if self._reason is FailureReason.INVALID_AUTH:
            self._cancel_timer()
            self._raise()
        elif self._timer is None:
            self._timer = async_call_later(self._hass, CHANNEL_OFFLINE_GRACE, self._on_grace_over)

    @callback
    def async_clear(self) -> None:
        """Stop tracking and drop the issue (unload); it comes back if still true."""
        self._cancel_timer()
        ir.async_delete_issue(self._hass, DOMAIN, self._issue_id)

    @callback
    def _on_grace_over(self, _now) -> None:
        self._timer = None
        self._raise()

    def _raise(self) -> None:
        reason = self._reason or FailureReason.CANNOT_CONNECT
        ir.async_create_issue(
            self._hass,
            DOMAIN,
            self._issue_id,
            is_fixable=False,
            severity=ir.IssueSeverity.ERROR,
            translation_key="invalid_auth" if reason is FailureReason.INVALID_AUTH else "channel_offline",
            translation_placeholders={"channel": self._name, "reason": reason.value},
        )

    def _cancel_timer(self) -> None:
        if self._timer is not None:
            self._timer()
            self._timer = None
