"""DALRN's domain: pure Python, no Prefect import, testable alone."""
