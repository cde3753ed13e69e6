"""Prefect Blocks: typed configuration and secrets, with local defaults for zero set-up."""
