"""Chains: the AnchorReceipts contract on an embedded EVM or a JSON-RPC node."""
