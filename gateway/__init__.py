"""The gateway: the front door where each firm reaches only its own disputes.

It sits above `flows/`: runs start through Prefect's API (`gateway.runs`), never by
importing a flow. Identity, tokens, authorization, idempotency and the audit log live in
the gateway's own database (`gateway.db`).
"""
