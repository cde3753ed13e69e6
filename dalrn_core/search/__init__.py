"""Precedent search: corpus, sentence embeddings, FAISS index, CKKS-encrypted scoring.

- `corpus`: SPDX license paragraphs (`load_precedents`) and held-out queries.
- `embed`: MiniLM embeddings, offline, cached by content hash (`Embedder`).
- `index`: FAISS HNSW / exact / IVF, saved by CID (`PrecedentIndex`).
- `amplify`: re-ranking a candidate pool and recall@k (measured, not used by search).
- `ckks_keys`, `encrypted`, `ckks`, `wire`: tenant CKKS keys and encrypted scoring.
- `tenant_query`: the tenant's side (its key file, encrypted query, decryption and choice).
- `rotation`: the server's record of active tenant keys (`KeyRegistry`).
- `build`: corpus to saved index in one call (`build_precedent_index`).
"""
