"""Precedent search: corpus, sentence embeddings, FAISS index, CKKS-encrypted scoring."""
