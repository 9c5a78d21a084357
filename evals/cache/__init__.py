"""Notebook 03: cache hit rates, the query-log replay, the semantic cache's decisions, and cost
projections."""
