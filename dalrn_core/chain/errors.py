"""Which chain failures are worth waiting out, and which are mistakes to report at once.

Transient (the same call may succeed later; a dispute stays `anchor pending`):
1. the node cannot be reached or keeps failing (`OSError`: connection errors, timeouts,
   `TransientRPCError`, `NotMinedError`; web3's own connection and timeout errors);
2. the network asks more than the fee caps allow (`FeeCapExceeded`: a fee spike);
3. whether a root is anchored cannot be told yet (`AnchorStateUnknown`).
Everything else is not: a chain block that does not exist, a node serving another chain id
than configured, an RPC URL or key the node refuses, a reverted transaction. Those raise,
with a message that names what is wrong, so an operator sees them instead of a queue that
silently grows.
"""

from __future__ import annotations

from web3.exceptions import ProviderConnectionError, TimeExhausted

from dalrn_core.chain.fees import FeeCapExceeded


class AnchorStateUnknown(ConnectionError):
    """Whether a root is anchored cannot be told now: a chain on which an anchoring of it
    was broadcast (and may still be mined) is unreachable."""


TRANSIENT_CHAIN_ERRORS: tuple[type[BaseException], ...] = (
    OSError, ProviderConnectionError, TimeExhausted, FeeCapExceeded,
)


def transient_chain_error(exc: BaseException) -> bool:
    """Whether `exc` is a chain failure worth retrying later (see the module docstring)."""
    return isinstance(exc, TRANSIENT_CHAIN_ERRORS)
