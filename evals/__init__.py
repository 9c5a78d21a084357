"""The harness: runner, profiles, metrics, gates and the report writer (see evals/cli.py)."""
