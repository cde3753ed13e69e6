"""Redacting secrets that URLs carry before a message reaches an error, a log or a receipt.

Hosted JSON-RPC endpoints put their API key in the URL: in the userinfo
(`https://user:key@host`), in the query (`?apikey=...`) or as a path segment
(`/v3/<key>`, `/v2/<key>`). A message that names such a URL (ours, or one quoted from
`requests`, which writes `... with url: /v3/<key>`) keeps the scheme, host, port and the
ordinary path segments, so it still says which node failed, and loses the rest:
1. userinfo is dropped;
2. a query or fragment becomes `?***`;
3. a path segment that looks like a key (16 or more characters of letters, digits and
   `-_.~=+`, holding both letters and digits, or 32 or more such characters) becomes `***`.
"""

from __future__ import annotations

import re
from urllib.parse import urlsplit

MASK = "***"
_URL = re.compile(r"\b[a-zA-Z][a-zA-Z0-9+.-]*://[^\s'\"<>`]+")
# requests quotes only the path and query of the URL it failed on: "... with url: /v3/KEY".
_QUOTED_PATH = re.compile(r"(\burl: )(/[^\s'\"<>`)]*)")
_KEY_CHARS = re.compile(r"[A-Za-z0-9\-_.~=+]+")


def _looks_like_key(segment: str) -> bool:
    if not _KEY_CHARS.fullmatch(segment):
        return False
    mixed = any(c.isdigit() for c in segment) and any(c.isalpha() for c in segment)
    return (len(segment) >= 16 and mixed) or len(segment) >= 32


def _redact_path(path_and_query: str) -> str:
    path, sep, _rest = path_and_query.partition("?")
    if not sep:
        path, sep, _rest = path_and_query.partition("#")
    kept = "/".join(MASK if _looks_like_key(s) else s for s in path.split("/"))
    return kept + ("?" + MASK if sep else "")


def redact_url(url: str) -> str:
    """`url` without userinfo, query, fragment or key-like path segments."""
    try:
        parts = urlsplit(url)
        host = parts.hostname or ""
        port = parts.port
    except ValueError:  # not a URL we can take apart: say nothing of it
        return MASK
    if ":" in host:
        host = f"[{host}]"
    netloc = f"{host}:{port}" if port is not None else host
    tail = parts.path + (f"?{parts.query}" if parts.query else "") + (f"#{parts.fragment}" if parts.fragment else "")
    return f"{parts.scheme}://{netloc}{_redact_path(tail)}"


def _redact_match(match: re.Match[str]) -> str:
    url = match.group(0)
    # Punctuation closing a sentence or a bracket is the message's, not the URL's.
    core = url.rstrip(".,;:!?)]}")
    return redact_url(core) + url[len(core):]


def redact(message: str) -> str:
    """`message` with every URL in it (and every path `requests` quotes) redacted."""
    message = _URL.sub(_redact_match, message)
    return _QUOTED_PATH.sub(lambda m: m.group(1) + _redact_path(m.group(2)), message)


def redacted_error(exc: BaseException, limit: int = 500) -> str:
    """`"<ExceptionType>: <message>"` with URLs redacted, then cut to `limit` characters.

    Redacting before cutting matters: a cut URL would no longer be recognised as one.
    """
    return redact(f"{type(exc).__name__}: {exc}")[:limit]
