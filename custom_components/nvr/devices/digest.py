"""HTTP Digest (RFC 7616 / RFC 2617) and Basic authentication for aiohttp.

aiohttp 3.11 (Home Assistant 2025.4) has no digest support and 3.14's
``DigestAuthMiddleware`` is not available there, so this small helper works
with any aiohttp 3.x session: :meth:`DigestAuth.request` sends a request,
answers a ``401`` Digest (or Basic) challenge once, and keeps the challenge
for the requests after it (with a growing nonce count), so a logged-in client
needs one round trip per request. A ``401`` to an answered challenge is
returned as is: the caller maps it to "invalid credentials" (Hikvision locks an
account after a few wrong answers, so it is never retried here).

Credentials never go into a log, an exception or a URL.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import re
import secrets
from typing import Any

import aiohttp
from yarl import URL

_HASHES = {
    "MD5": hashlib.md5,
    "SHA-256": hashlib.sha256,
}
"""The digest algorithms we answer (the ``-sess`` variants are derived from these)."""

_PREFERENCE = ("SHA-256", "SHA-256-SESS", "MD5", "MD5-SESS")
"""Strongest first, when a server offers more than one Digest challenge."""

_TCHARS = r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+"
_PARAM = re.compile(rf'\s*({_TCHARS})\s*=\s*("(?:[^"\\]|\\.)*"|[^,\s]*)\s*,?')
_SCHEME = re.compile(rf"\s*,?\s*({_TCHARS})(?:\s+|$)")


def parse_challenges(headers: list[str]) -> list[tuple[str, dict[str, str]]]:
    """Split ``WWW-Authenticate`` header values into ``(scheme, params)`` challenges.

    ``scheme`` is lower case, parameter names are lower case, quoted values
    are unquoted. Several challenges may share one header value.
    """
    challenges: list[tuple[str, dict[str, str]]] = []
    for value in headers:
        pos = 0
        while pos < len(value):
            scheme = _SCHEME.match(value, pos)
            if scheme is None:
                break
            params: dict[str, str] = {}
            pos = scheme.end()
            while pos < len(value):
                param = _PARAM.match(value, pos)
                if param is None:
                    break
                raw = param.group(2)
                if raw.startswith('"'):
                    raw = re.sub(r"\\(.)", r"\1", raw[1:-1])
                params[param.group(1).lower()] = raw
                pos = param.end()
            challenges.append((scheme.group(1).lower(), params))
    return challenges


def _choose_digest(challenges: list[tuple[str, dict[str, str]]]) -> dict[str, str] | None:
    """The Digest challenge with the strongest algorithm we support, if any."""
    best: tuple[int, dict[str, str]] | None = None
    for scheme, params in challenges:
        if scheme != "digest" or "nonce" not in params:
            continue
        algorithm = params.get("algorithm", "MD5").upper()
        if algorithm not in _PREFERENCE:
            continue
        qop = params.get("qop")
        if qop is not None and "auth" not in [q.strip().lower() for q in qop.split(",")]:
            continue  # auth-int only: we do not hash bodies
        rank = _PREFERENCE.index(algorithm)
        if best is None or rank < best[0]:
            best = (rank, params)
    return None if best is None else best[1]


class DigestAuth:
    """Digest (or, when that is all the server offers, Basic) auth for one account on one device.

    Not tied to a session: pass the session to every :meth:`request`. One
    instance may serve concurrent requests (the nonce count is only ever
    incremented between awaits).
    """

    def __init__(self, username: str, password: str) -> None:
        """Keep the credentials; nothing is sent until the first request."""
        self._username = username
        self._password = password
        self._challenge: dict[str, str] | None = None
        self._basic = False
        self._nc = 0

    def __repr__(self) -> str:
        """Identify the helper without its credentials."""
        return f"DigestAuth(username={self._username!r})"

    @property
    def scheme(self) -> str | None:
        """``"digest"`` or ``"basic"`` once a challenge was answered, else None."""
        if self._challenge is not None:
            return "digest"
        return "basic" if self._basic else None

    def reset(self) -> None:
        """Forget the challenge: the next request starts without credentials."""
        self._challenge = None
        self._basic = False
        self._nc = 0

    async def request(
        self, session: aiohttp.ClientSession, method: str, url: str | URL, **kwargs: Any
    ) -> aiohttp.ClientResponse:
        """Send a request, answering the server's authentication challenge once.

        With a challenge from an earlier request, the first attempt carries
        credentials already. On a ``401`` with a new Digest challenge (a
        first request, a ``stale=true`` nonce or a nonce the server dropped)
        the request is sent again once with the answer. A ``401`` to an
        answer with the same nonce is returned without a retry: the
        credentials are wrong. ``kwargs`` go to ``session.request`` (a
        ``data`` body must be bytes or str: it may be sent twice).
        """
        target = URL(url) if isinstance(url, str) else url
        extra_headers: dict[str, str] = dict(kwargs.pop("headers", None) or {})
        sent = self._authorization(method, target)
        response = await session.request(method, target, headers=self._merge(extra_headers, sent), **kwargs)
        if response.status != 401:
            return response

        challenges = parse_challenges(response.headers.getall("WWW-Authenticate", []))
        digest = _choose_digest(challenges)
        if digest is not None:
            stale = digest.get("stale", "").lower() == "true"
            same_nonce = self._challenge is not None and digest["nonce"] == self._challenge.get("nonce")
            if sent is not None and sent.startswith("Digest ") and same_nonce and not stale:
                return response  # the answer to this very challenge was refused
            self._challenge = digest
            self._basic = False
            self._nc = 0
        elif any(scheme == "basic" for scheme, _ in challenges):
            if sent is not None and sent.startswith("Basic "):
                return response
            self._challenge = None
            self._basic = True
        else:
            return response  # no challenge we can answer

        with contextlib.suppress(aiohttp.ClientError):
            await response.read()  # a small error page: read, so the connection can be reused
        response.release()
        retry = self._authorization(method, target)
        return await session.request(method, target, headers=self._merge(extra_headers, retry), **kwargs)

    @staticmethod
    def _merge(headers: dict[str, str], authorization: str | None) -> dict[str, str]:
        """The caller's headers plus ours."""
        if authorization is None:
            return headers
        return {**headers, "Authorization": authorization}

    def _authorization(self, method: str, url: URL) -> str | None:
        """The Authorization header for a request, or None before any challenge."""
        if self._challenge is not None:
            return self._digest_header(method, url, self._challenge)
        if self._basic:
            token = base64.b64encode(f"{self._username}:{self._password}".encode()).decode("ascii")
            return f"Basic {token}"
        return None

    def _digest_header(self, method: str, url: URL, challenge: dict[str, str]) -> str:
        """Compute the Digest answer (RFC 7616 section 3.4) for one request."""
        algorithm = challenge.get("algorithm", "MD5")
        base = algorithm.upper().removesuffix("-SESS")
        hash_fn = _HASHES[base]

        def digest(data: str) -> str:
            return hash_fn(data.encode("utf-8")).hexdigest()

        realm = challenge.get("realm", "")
        nonce = challenge["nonce"]
        uri = url.raw_path_qs
        qop_offer = challenge.get("qop")
        cnonce = secrets.token_hex(8)
        self._nc += 1
        nc = f"{self._nc:08x}"

        ha1 = digest(f"{self._username}:{realm}:{self._password}")
        if algorithm.upper().endswith("-SESS"):
            ha1 = digest(f"{ha1}:{nonce}:{cnonce}")
        ha2 = digest(f"{method.upper()}:{uri}")
        if qop_offer is not None:
            answer = digest(f"{ha1}:{nonce}:{nc}:{cnonce}:auth:{ha2}")
        else:
            answer = digest(f"{ha1}:{nonce}:{ha2}")  # RFC 2069 style

        fields = [
            f'username="{_quote(self._username)}"',
            f'realm="{_quote(realm)}"',
            f'nonce="{_quote(nonce)}"',
            f'uri="{_quote(uri)}"',
            f"algorithm={algorithm}",
            f'response="{answer}"',
        ]
        if "opaque" in challenge:
            fields.append(f'opaque="{_quote(challenge["opaque"])}"')
        if qop_offer is not None:
            fields += ["qop=auth", f"nc={nc}", f'cnonce="{cnonce}"']
        return "Digest " + ", ".join(fields)


def _quote(value: str) -> str:
    """Escape a value for a quoted-string."""
    return value.replace("\\", "\\\\").replace('"', '\\"')
