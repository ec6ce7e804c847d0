"""Stream addresses: validation, credentials and redaction.

URLs are stored without credentials; the credentials live in their own fields
and are only joined into the URL at the moment a stream is opened.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import quote, unquote, urlsplit, urlunsplit

RTSP_SCHEMES = ("rtsp", "rtsps")
TRANSPORTS = ("tcp", "udp")
_DEFAULT_PORTS = {"rtsp": 554, "rtsps": 322}

# user:password@ in any scheme://user:password@host
_USERINFO = re.compile(r"(?P<scheme>[a-zA-Z][a-zA-Z0-9+.-]*://)[^/@\s'\"]*@")


class InvalidUrlError(ValueError):
    """The text is not a usable RTSP address (bad scheme or missing host)."""


@dataclass(frozen=True, slots=True)
class StreamSource:
    """Where a stream lives and how to reach it."""

    url: str
    username: str = ""
    password: str = ""
    transport: str = "tcp"

    def authenticated_url(self) -> str:
        """Return the URL with the credentials joined in, for opening only."""
        return with_credentials(self.url, self.username, self.password)


def split_credentials(url: str) -> tuple[str, str, str]:
    """Return (url without userinfo, username, password) from a URL."""
    parts = urlsplit(url.strip())
    if parts.username is None and parts.password is None:
        return url.strip(), "", ""
    netloc = parts.hostname or ""
    if ":" in netloc:  # IPv6 literal
        netloc = f"[{netloc}]"
    if parts.port is not None:
        netloc = f"{netloc}:{parts.port}"
    clean = urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))
    return clean, unquote(parts.username or ""), unquote(parts.password or "")


def with_credentials(url: str, username: str, password: str) -> str:
    """Join percent-encoded credentials into a credential-free URL."""
    if not username and not password:
        return url
    parts = urlsplit(url)
    userinfo = quote(username, safe="")
    if password:
        userinfo = f"{userinfo}:{quote(password, safe='')}"
    return urlunsplit((parts.scheme, f"{userinfo}@{parts.netloc}", parts.path, parts.query, parts.fragment))


def validate_url(url: str) -> str:
    """Check scheme and host; return the URL stripped of surrounding space."""
    url = url.strip()
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as err:
        raise InvalidUrlError(str(err)) from err
    if parts.scheme.lower() not in RTSP_SCHEMES:
        raise InvalidUrlError(f"scheme must be one of {', '.join(RTSP_SCHEMES)}")
    if not parts.hostname:
        raise InvalidUrlError("the address has no host")
    if port == 0:
        raise InvalidUrlError("port 0 is not a valid port")
    return url


def stream_key(url: str) -> str:
    """Return a canonical form of a URL for spotting the same stream twice.

    Scheme and host are lower-cased, the default port is made explicit,
    credentials are dropped, and repeated or trailing slashes of the path
    are left out; the query is kept as it is.
    """
    clean, _, _ = split_credentials(validate_url(url))
    parts = urlsplit(clean)
    scheme = parts.scheme.lower()
    host = (parts.hostname or "").lower()
    if ":" in host:
        host = f"[{host}]"
    port = parts.port or _DEFAULT_PORTS[scheme]
    path = "/" + "/".join(segment for segment in parts.path.split("/") if segment)
    query = f"?{parts.query}" if parts.query else ""
    return f"{scheme}://{host}:{port}{path}{query}"


def redact(text: str) -> str:
    """Hide any user:password@ inside URLs in a message."""
    return _USERINFO.sub(r"\g<scheme>***@", text)
