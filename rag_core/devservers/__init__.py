"""Development servers: the mock LLM, the obedient adversary and the local model server.

The deployed app never imports this package (a test over the import graph holds it)."""
