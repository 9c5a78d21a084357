"""The decisions taken on what was retrieved, without the LLM (the README beside this file)."""
