"""Answers: how they are made (``assemble``) and generated (``generate``: steps 6-7), their ids,
verdicts on them and the opt-in query log (what production tells the harness)."""
