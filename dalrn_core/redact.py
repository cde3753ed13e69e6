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

Beyond URLs, `redact` masks what would give away the server's or a tenant's secrets:

4. PEM blocks (`-----BEGIN ...-----` to `-----END ...-----`, or to the end of a cut one)
   keep their armour lines and lose their body;
5. the credentials of `Authorization` schemes (`Basic <base64>`, `Bearer <token>`) and any
   JSON Web Token (`eyJ...`, three dot-separated base64url parts);
6. the value of a secret-named setting written as `NAME=value` or `"name": "value"` (names ending in AUTH_STRING, PASSWORD, SECRET, PRIVATE_KEY, API_KEY,
   ACCESS_TOKEN, SIGNING_KEY, DATA_KEY, SECRET_KEY);
7. every secret this process knows by value: Prefect's auth strings from the environment
   (`PREFECT_API_AUTH_STRING`, `PREFECT_SERVER_API_AUTH_STRING`: the whole `user:password`,
   the password alone and their Basic-header base64) and every key registered with
   `remember_secret` when it was loaded (the anchorer's private key, receipt and audit
   signing keys, JWT signing keys, the side-sealing key, tenant data keys and X25519 keys),
   as raw text, hex (with or without `0x`) and base64.
"""

from __future__ import annotations

import base64
import logging
import os
import re
import threading
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

MASK = "***"
_URL = re.compile(r"\b[a-zA-Z][a-zA-Z0-9+.-]*://[^\s'\"<>`]+")
# requests quotes only the path and query of the URL it failed on: "... with url: /v3/KEY".
_QUOTED_PATH = re.compile(r"(\burl: )(/[^\s'\"<>`)]*)")
_KEY_CHARS = re.compile(r"[A-Za-z0-9\-_.~=+]+")
_PEM = re.compile(r"-----BEGIN ([A-Z0-9 ]{1,40})-----(?:.*?-----END \1-----|[A-Za-z0-9+/=\s\\n]*)", re.DOTALL)
# A credential holds a digit or a base64/JWT symbol, so "Basic information" stays as it is.
_AUTH_SCHEME = re.compile(r"\b(Basic|Bearer)(\s+)(?=[A-Za-z._~-]*[0-9+/=.])[A-Za-z0-9+/=._~-]{8,}", re.IGNORECASE)
_JWT = re.compile(r"\beyJ[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]*")
# The names of settings that hold secrets (a pattern for names, not a credential).
_SECRET_NAME = (r"[A-Za-z0-9_]*(?:auth_string|password|passwd|secret|private_key|api_key|access_token|"  # nosec B105
                r"signing_key|data_key|secret_key)")
# `NAME=value` (an environment or a command line) or a quoted key (`"name": "value"`, JSON or a
# repr); a bare `name: rule` is how our own errors name a field, and stays.
_SECRET_SETTING = re.compile(rf"""(?ix)\b({_SECRET_NAME})((?:=|["']\s*:\s*)["']?)(?!\*\*\*)([^\s"',;}}\]]+)""")
AUTH_STRING_VARIABLES = ("PREFECT_API_AUTH_STRING", "PREFECT_SERVER_API_AUTH_STRING")
_MIN_SECRET = 8  # shorter values would mask ordinary words
_remembered: set[str] = set()
_lock = threading.Lock()


def _forms(secret: str | bytes) -> set[str]:
    """The ways a secret is written out: as text, hex (and `0x` hex) and base64."""
    raw = secret.encode() if isinstance(secret, str) else bytes(secret)
    forms = {raw.hex(), base64.b64encode(raw).decode(), base64.urlsafe_b64encode(raw).decode()}
    forms |= {f.rstrip("=") for f in forms}
    try:
        text = raw.decode()
    except UnicodeDecodeError:
        text = ""
    if text.strip():
        forms.add(text.strip())
        if text.startswith("0x"):
            forms.add(text[2:])
    return {f for f in forms if len(f) >= _MIN_SECRET}


def remember_secret(secret: str | bytes) -> None:
    """Mask `secret` (in every form `_forms` names) in whatever this process redacts from now on."""
    forms = _forms(secret)
    with _lock:
        _remembered.update(forms)


def _known_secrets() -> list[str]:
    found = set()
    for name in AUTH_STRING_VARIABLES:
        value = os.environ.get(name, "").strip()
        if value:
            found |= _forms(value)
            _user, sep, password = value.partition(":")
            if sep:
                found |= _forms(password)
    with _lock:
        found |= _remembered
    return sorted(found, key=len, reverse=True)  # a longer form first: its parts are masked within it


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


def _redact_pem(match: re.Match[str]) -> str:
    kind = match.group(1)
    end = f"-----END {kind}-----" if match.group(0).rstrip().endswith(f"-----END {kind}-----") else ""
    return f"-----BEGIN {kind}-----{MASK}{end}"


def redact(message: str) -> str:
    """`message` with every URL (and every path `requests` quotes), key block, credential and
    known secret in it redacted."""
    for secret in _known_secrets():  # first: a URL or header holding one would otherwise keep a part
        message = message.replace(secret, MASK)
    message = _PEM.sub(_redact_pem, message)
    message = _AUTH_SCHEME.sub(lambda m: m.group(1) + m.group(2) + MASK, message)
    message = _JWT.sub(MASK, message)
    message = _SECRET_SETTING.sub(lambda m: m.group(1) + m.group(2) + MASK, message)
    message = _URL.sub(_redact_match, message)
    return _QUOTED_PATH.sub(lambda m: m.group(1) + _redact_path(m.group(2)), message)


def redacted_error(exc: BaseException, limit: int = 500) -> str:
    """`"<ExceptionType>: <message>"` redacted (`redact`), then cut to `limit` characters.

    Redacting before cutting matters: a cut URL would no longer be recognised as one.
    """
    return redact(f"{type(exc).__name__}: {exc}")[:limit]


class RedactingLogRecords:
    """A log record factory that redacts each record's message and exception text when the
    record is made, before any handler (a file, the console, Prefect's API log handler) sees it."""

    def __init__(self, wrapped: Callable[..., logging.LogRecord]) -> None:
        self.wrapped = wrapped

    def __call__(self, *args: Any, **kwargs: Any) -> logging.LogRecord:
        record = self.wrapped(*args, **kwargs)
        try:
            message = record.getMessage()
        except Exception:  # noqa: BLE001 - a malformed record is logging's to report, not ours
            return record
        record.msg, record.args = redact(message), None
        if record.exc_info and not record.exc_text:
            record.exc_text = redact(logging.Formatter().formatException(record.exc_info))
        if record.stack_info:
            record.stack_info = redact(record.stack_info)
        return record


def redact_logs() -> None:
    """Make every log record of this process redacted at its source (idempotent)."""
    factory = logging.getLogRecordFactory()
    if not isinstance(factory, RedactingLogRecords):
        logging.setLogRecordFactory(RedactingLogRecords(factory))
