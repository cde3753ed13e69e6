"""Explanation: memos a person can follow and causal influence diagrams."""
