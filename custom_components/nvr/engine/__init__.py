"""The media engine: plain Python, no Home Assistant imports.

Stream readers, the GOP buffer, snapshots and probing. It can be tested and
benchmarked on its own.
"""

from .avopen import SUPPORTED_CODECS
from .channel import MAIN, SUB, Channel, ChannelConfig, stop_channels
from .probe import probe
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
    "Channel",
    "ChannelConfig",
    "FailureReason",
    "InvalidUrlError",
    "StreamError",
    "StreamInfo",
    "StreamSource",
    "StreamStatus",
    "probe",
    "redact",
    "split_credentials",
    "stop_channels",
    "stream_key",
    "validate_url",
]
