"""Data quality: great-expectations suites, kept in the repo, over pandas tables."""
