"""Prefect flows: orchestration only, each reads like the business process."""
