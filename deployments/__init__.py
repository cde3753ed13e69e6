"""How runs are started: served deployments for the embedded default, work pools in prefect.yaml."""
