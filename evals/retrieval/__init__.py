"""Notebook 02: recall and latency of the HNSW index, retrieval modes, and public collections."""
