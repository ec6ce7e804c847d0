"""The media engine: plain Python, no Home Assistant imports.

Grouped by the stages the data flows through:

* ``stream``: sources, opening and probing, one reader thread per stream,
  the GOP held in memory, and the sinks that packets are handed to;
* ``stills``: snapshots from the held GOP, and the "No video signal" picture;
* ``recording``: the recorder (a sink), its files, the index, the archive,
  retention and export;
* ``motion``: zones, the detector, the event tracker and the worker (a sink);
* ``objects``: person, vehicle, bicycle and animal detection (numpy), on
  the pictures motion detection decodes while motion goes on;
* ``search``: the activity index (which cells of the picture moved, each
  second, and the object labels seen) beside the footage, and smart search
  over it;
* ``playback``: recorded files as HLS playlists (an hour, or any span),
  the timeline of footage and events, and event clips.

``channel`` ties a camera's streams to their sinks. This module is the
surface the Home Assistant glue imports from. It can be tested and
benchmarked on its own.
"""

from .channel import MAIN, SUB, Channel, ChannelConfig, stop_channels
from .libav import silence_log_hook
from .motion.events import MotionUpdate
from .motion.settings import MotionConfig, MotionSettings
from .motion.worker import MotionWorker
from .motion.zones import InvalidZoneError, format_polygons, parse_polygons
from .objects.channel import ChannelObjects, ObjectConfig, ObjectUpdate
from .objects.presence import LABELS as OBJECT_LABELS
from .objects.worker import ObjectWorker
from .playback.boxes import BoxError, LayoutCache
from .playback.clips import CACHE_FOLDER, ClipCache
from .playback.playlist import Playlist, ShiftedFile, build_playlist
from .playback.timeline import ChannelTimeline, channel_timeline, merge_spans
from .recording.archive import Archive, StorageStats
from .recording.export import ExportedClip, ExportError, export_clip
from .recording.index import Event, RecordingIndex, RemovedChannel, Segment
from .recording.recorder import Recorder
from .recording.retention import PruneResult, RetentionPolicy
from .recording.status import EventKind, RecorderSettings, RecorderStatus, RecordingFault, RecordingMode
from .relay.placeholder import VideoFormat
from .relay.server import RelayServer
from .search.frames import recorded_jpeg
from .search.grid import CELLS as ACTIVITY_CELLS
from .search.query import SearchResult
from .search.query import search as search_activity
from .search.store import ActivityStore, ChannelActivity
from .stills.caption import ENGLISH as ENGLISH_CAPTION
from .stills.caption import Caption, caption_for, current_caption, set_caption
from .stills.keeper import DEADLINE as STILL_DEADLINE
from .stills.keeper import Served, StillKeeper, served
from .stills.placeholder import no_signal_jpeg
from .stream.avopen import SUPPORTED_CODECS
from .stream.probe import probe
from .stream.source import (
    TRANSPORTS,
    InvalidUrlError,
    StreamSource,
    redact,
    split_credentials,
    stream_key,
    validate_url,
)
from .stream.status import FailureReason, StreamError, StreamInfo, StreamStatus

__all__ = [
    "ACTIVITY_CELLS",
    "CACHE_FOLDER",
    "ENGLISH_CAPTION",
    "MAIN",
    "OBJECT_LABELS",
    "STILL_DEADLINE",
    "SUB",
    "SUPPORTED_CODECS",
    "TRANSPORTS",
    "ActivityStore",
    "Archive",
    "BoxError",
    "Caption",
    "Channel",
    "ChannelActivity",
    "ChannelConfig",
    "ChannelObjects",
    "ChannelTimeline",
    "ClipCache",
    "Event",
    "EventKind",
    "ExportError",
    "ExportedClip",
    "FailureReason",
    "InvalidUrlError",
    "InvalidZoneError",
    "LayoutCache",
    "MotionConfig",
    "MotionSettings",
    "MotionUpdate",
    "MotionWorker",
    "ObjectConfig",
    "ObjectUpdate",
    "ObjectWorker",
    "Playlist",
    "PruneResult",
    "Recorder",
    "RecorderSettings",
    "RecorderStatus",
    "RecordingFault",
    "RecordingIndex",
    "RecordingMode",
    "RelayServer",
    "RemovedChannel",
    "RetentionPolicy",
    "SearchResult",
    "Segment",
    "Served",
    "ShiftedFile",
    "StillKeeper",
    "StorageStats",
    "StreamError",
    "StreamInfo",
    "StreamSource",
    "StreamStatus",
    "VideoFormat",
    "build_playlist",
    "caption_for",
    "channel_timeline",
    "current_caption",
    "export_clip",
    "format_polygons",
    "merge_spans",
    "no_signal_jpeg",
    "parse_polygons",
    "probe",
    "recorded_jpeg",
    "redact",
    "search_activity",
    "served",
    "set_caption",
    "silence_log_hook",
    "split_credentials",
    "stop_channels",
    "stream_key",
    "validate_url",
]
