"""Replay a query log through the real app at its own timing (``python -m evals replay``).

``logs`` streams the log's lines (the JSON lines ``rag-core querylog export`` writes, or plain
``ts``/``user_id``/``question`` lines) and says what it could not use; ``send`` sends each
question at its recorded offset divided by the speed, open loop, and records each request's
timings and outcome; ``report`` turns those into the per-second rates, the latency by outcome,
the hit rate, the cost and the goodput against the SLOs; ``sweep`` runs several speeds and
finds the highest one whose goodput holds.
"""
