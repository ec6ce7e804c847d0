"""The media engine: plain Python, no Home Assistant imports.

Stream readers, the GOP buffer, snapshots, probing, the recorder, the
recording index, retention and clip export. It can be tested and benchmarked
on its own.
"""

from .archive import Archive, StorageStats
from .avopen import SUPPORTED_CODECS
from .channel import MAIN, SUB, Channel, ChannelConfig, stop_channels
from .export import ExportedClip, ExportError, export_clip
from .index import Event, RecordingIndex, Segment
from .motion import InvalidZoneError, MotionSettings, format_polygons, parse_polygons
from .motion_worker import MotionConfig, MotionUpdate, MotionWorker
from .probe import probe
from .recorder import DiskFault, EventKind, Recorder, RecorderSettings, RecorderStatus, RecordingMode
from .retention import PruneResult, RetentionPolicy
from .source import (
    InvalidUrlError,
    StreamSource,
    redact,
    split_credentials,
    stream_key,
    validate_url,
)
from .status import FailureReason, StreamError, StreamInfo, StreamStatus

__all__ = [
    "MAIN",
    "SUB",
    "SUPPORTED_CODECS",
    "Archive",
    "Channel",
    "ChannelConfig",
    "DiskFault",
    "Event",
    "EventKind",
    "ExportError",
    "ExportedClip",
    "FailureReason",
    "InvalidUrlError",
    "InvalidZoneError",
    "MotionConfig",
    "MotionSettings",
    "MotionUpdate",
    "MotionWorker",
    "PruneResult",
    "Recorder",
    "RecorderSettings",
    "RecorderStatus",
    "RecordingIndex",
    "RecordingMode",
    "RetentionPolicy",
    "Segment",
    "StorageStats",
    "StreamError",
    "StreamInfo",
    "StreamSource",
    "StreamStatus",
    "export_clip",
    "format_polygons",
    "parse_polygons",
    "probe",
    "redact",
    "split_credentials",
    "stop_channels",
    "stream_key",
    "validate_url",
]
