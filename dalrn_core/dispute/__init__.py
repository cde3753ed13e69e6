"""Disputes: the validated model of what parties submit."""
