"""Negotiation: Nash equilibria, selection rules over gains above BATNA, bargaining."""
