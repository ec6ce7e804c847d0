"""Repair issues: feeds that stay down, recording paused, an unusable storage folder."""

from __future__ import annotations

from homeassistant.core import CALLBACK_TYPE, HomeAssistant, callback
from homeassistant.helpers import issue_registry as ir
from homeassistant.helpers.event import async_call_later

from .const import CHANNEL_OFFLINE_GRACE, DOMAIN
from .engine import MAIN, FailureReason, RecorderStatus, StreamStatus


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
        self._closed = False

    @callback
    def async_update(self, role: str, status: StreamStatus) -> None:
        """Follow a status change of the channel."""
        if role != MAIN or self._closed:
            return  # the sub stream, or a late status from a reader being stopped
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
        self._closed = True
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


class RecordingIssues:
    """Raises the "recording paused" issue of one channel while its recorder has a disk fault.

    The issue says why (disk full, folder not writable, write error) and
    clears itself when the recorder writes again.
    """

    def __init__(self, hass: HomeAssistant, entry_id: str, subentry_id: str, name: str, folder: str) -> None:
        """Track one channel's recorder."""
        self._hass = hass
        self._name = name
        self._folder = folder
        self.issue_id = f"recording_paused_{entry_id}_{subentry_id}"
        self._shown: tuple[str, str] | None = None
        self._closed = False

    @callback
    def async_update(self, status: RecorderStatus) -> None:
        """Follow a status change of the recorder."""
        if self._closed:
            return  # a late status from a recorder being stopped
        if status.fault is None:
            if self._shown is not None:
                ir.async_delete_issue(self._hass, DOMAIN, self.issue_id)
                self._shown = None
            return
        shown = (status.fault.value, status.fault_detail or "")
        if shown == self._shown:
            return
        self._shown = shown
        ir.async_create_issue(
            self._hass,
            DOMAIN,
            self.issue_id,
            is_fixable=False,
            severity=ir.IssueSeverity.ERROR,
            translation_key=f"recording_paused_{status.fault.value}",
            translation_placeholders={"channel": self._name, "folder": self._folder, "detail": shown[1]},
        )

    @callback
    def async_clear(self) -> None:
        """Stop tracking and drop the issue (unload); it comes back if still true."""
        self._closed = True
        ir.async_delete_issue(self._hass, DOMAIN, self.issue_id)


def storage_issue_id(entry_id: str) -> str:
    """The id of an NVR's "storage unavailable" issue."""
    return f"storage_unavailable_{entry_id}"


@callback
def async_raise_storage_issue(hass: HomeAssistant, entry_id: str, name: str, folder: str, error: str) -> None:
    """Say that the storage folder cannot be used, so nothing is recorded."""
    ir.async_create_issue(
        hass,
        DOMAIN,
        storage_issue_id(entry_id),
        is_fixable=False,
        severity=ir.IssueSeverity.ERROR,
        translation_key="storage_unavailable",
        translation_placeholders={"nvr": name, "folder": folder, "error": error},
    )


@callback
def async_clear_storage_issue(hass: HomeAssistant, entry_id: str) -> None:
    """Drop the "storage unavailable" issue."""
    ir.async_delete_issue(hass, DOMAIN, storage_issue_id(entry_id))


OBJECT_DETECTION_ISSUE = "object_detection_failed"


@callback
def async_raise_object_detection_issue(hass: HomeAssistant, reason: str) -> None:
    """Say that the object detection model could not be loaded, so no person or vehicle is detected."""
    ir.async_create_issue(
        hass,
        DOMAIN,
        OBJECT_DETECTION_ISSUE,
        is_fixable=False,
        severity=ir.IssueSeverity.ERROR,
        translation_key=OBJECT_DETECTION_ISSUE,
        translation_placeholders={"reason": reason[:200]},
    )
