"""The `dalrn` command: the tenant's side and the operator's entry points."""
