"""Answer ids, verdicts on answers and the opt-in query log: what production tells the harness."""
