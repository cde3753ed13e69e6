"""JSON-RPC transport for real chains: one pooled HTTP session per chain, retries on
transient failures with exponential backoff and full jitter.

What counts as transient (worth the same request again):
1. no answer: connection refused or reset, a dropped connection, a timeout, a cut body;
2. HTTP 429 (rate limited) and 5xx (the node or its load balancer is unwell);
3. a body that is not JSON (a proxy page, a cut response);
4. JSON-RPC errors that say "try again": -32005 (limit exceeded), or any error (the -32000
   server family, -32603 internal) whose message names a busy or lagging node ("header not
   found", "timeout", "rate limit"...) and no revert.
Everything else (a revert, "nonce too low", "insufficient funds") is returned at once.

Backoff is "full jitter" from AWS's Architecture Blog, "Exponential Backoff And Jitter"
(Brooker, 2015): sleep uniform(0, min(cap, base * 2**attempt)).

RPC URLs of hosted nodes carry API keys: every message raised here names the node by its
redacted URL (`dalrn_core.redact`), and the loggers of web3's and urllib3's HTTP layers,
which write the URL at debug level, get a filter that redacts their records.
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import requests
from requests.adapters import HTTPAdapter
from web3 import HTTPProvider, Web3
from web3.types import RPCEndpoint, RPCResponse

from dalrn_core.redact import redact, redact_url

TRANSIENT_HTTP = frozenset({429, 500, 502, 503, 504})
TRANSIENT_CODES = frozenset({-32005})
TRANSIENT_MESSAGES = (
    "header not found", "timeout", "timed out", "try again", "too many requests", "rate limit",
    "busy", "overloaded", "temporarily unavailable", "service unavailable", "connection reset",
)


@dataclass(frozen=True)
class RetryPolicy:
    """How often and how long to retry a transient failure."""

    attempts: int = 6
    base_delay_s: float = 0.1
    max_delay_s: float = 5.0

    def delay(self, attempt: int, rng: random.Random) -> float:
        """Full-jitter backoff before retry number `attempt` (0-based)."""
        return rng.uniform(0.0, min(self.max_delay_s, self.base_delay_s * 2**attempt))


class TransientRPCError(ConnectionError):
    """The node kept failing transiently after every retry."""


class RPCRefused(RuntimeError):
    """The node answered with an HTTP error that retrying cannot cure (401, 403, 404...):
    a wrong URL or API key, so a misconfiguration rather than a transient failure."""


class _RedactingFilter(logging.Filter):
    """Rewrites a log record's message with its URLs redacted."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.msg, record.args = redact(record.getMessage()), None
        return True


_REDACTED_LOGGERS = ("web3.providers.HTTPProvider", "web3._utils.http_session_manager.HTTPSessionManager",
                     "urllib3.connectionpool")
for _name in _REDACTED_LOGGERS:
    logging.getLogger(_name).addFilter(_RedactingFilter())


def transient_rpc_error(error: Mapping[str, object] | None) -> bool:
    """Whether a JSON-RPC error object is worth retrying (see the module docstring)."""
    if not error:
        return False
    message = str(error.get("message", "")).lower()
    if error.get("code") in TRANSIENT_CODES:
        return True
    return "revert" not in message and any(m in message for m in TRANSIENT_MESSAGES)


_sessions: dict[str, requests.Session] = {}
_sessions_lock = threading.Lock()


def pooled_session(key: str, pool_size: int = 16) -> requests.Session:
    """The one HTTP session (keep-alive connection pool) of the chain named `key`."""
    with _sessions_lock:
        session = _sessions.get(key)
        if session is None:
            session = requests.Session()
            adapter = HTTPAdapter(pool_connections=1, pool_maxsize=pool_size, max_retries=0)
            session.mount("http://", adapter)
            session.mount("https://", adapter)
            _sessions[key] = session
        return session


class ResilientHTTPProvider(HTTPProvider):
    """web3's HTTPProvider with our retry rules in place of its own.

    `retries` counts the transient failures it absorbed, for logs and tests.
    """

    def __init__(self, url: str, *, session_key: str | None = None, policy: RetryPolicy | None = None,
                 timeout_s: float = 10.0, seed: int | None = None) -> None:
        super().__init__(url, request_kwargs={"timeout": timeout_s}, session=pooled_session(session_key or url),
                         exception_retry_configuration=None)
        self.policy = policy or RetryPolicy()
        self.retries = 0
        # Bandit B311 skipped: this generator only jitters retry delays, it makes no secret.
        self._rng = random.Random(seed)  # nosec B311

    def make_request(self, method: RPCEndpoint, params: Any) -> RPCResponse:
        last = "no attempt"
        for attempt in range(self.policy.attempts):
            if attempt:
                time.sleep(self.policy.delay(attempt - 1, self._rng))
            try:
                response = super().make_request(method, params)
            except requests.HTTPError as exc:
                status = exc.response.status_code if exc.response is not None else None
                if status not in TRANSIENT_HTTP:
                    raise RPCRefused(f"{method} at {redact_url(str(self.endpoint_uri))}: HTTP {status}") from None
                last = f"HTTP {status}"
            except (requests.ConnectionError, requests.Timeout, ValueError,
                    requests.exceptions.ChunkedEncodingError) as exc:
                last = redact(f"{type(exc).__name__}: {exc}")
            else:
                if not transient_rpc_error(response.get("error")):
                    return response
                last = redact(f"RPC error {response['error']}")
            self.retries += 1
        raise TransientRPCError(f"{method} failed {self.policy.attempts} times at "
                                f"{redact_url(str(self.endpoint_uri))}: {last}")


def rpc_web3(url: str, *, session_key: str | None = None, policy: RetryPolicy | None = None,
             timeout_s: float = 10.0) -> Web3:
    """A Web3 over `ResilientHTTPProvider` for the chain at `url`."""
    return Web3(ResilientHTTPProvider(url, session_key=session_key, policy=policy, timeout_s=timeout_s))
