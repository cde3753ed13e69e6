"""The flow tests use the Prefect harness and the small index of tests/conftest.py."""
