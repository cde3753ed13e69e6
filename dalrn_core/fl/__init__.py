"""Federated learning: robust aggregation, differential privacy, privacy budget ledger."""
