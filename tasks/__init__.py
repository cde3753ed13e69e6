"""Thin Prefect tasks: retries, timeouts, cache policy and artifacts around dalrn_core."""
