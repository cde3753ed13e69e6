"""Negotiation: Nash equilibria, selection rules over gains above BATNA, bargaining.

`settle` turns a dispute into a `NegotiationResult` (one shape for two-party games and
n-party joint bargaining).
"""

from dalrn_core.negotiation.negotiate import settle
from dalrn_core.negotiation.result import NegotiationResult

__all__ = ["NegotiationResult", "settle"]
