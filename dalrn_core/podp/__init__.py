"""Proof of due process: canonical receipts, hash chains, signatures, Merkle batches."""
