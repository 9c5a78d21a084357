"""Notebook 03: cache hit rates, the query-log replay and cost projections (the semantic
cache's decision research beside it: ``evals.decisions``)."""
