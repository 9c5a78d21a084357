"""Data sets the harness reads: the golden set, public BEIR collections, the synthetic corpus, query
logs, and the dev/test split."""
