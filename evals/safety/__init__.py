"""Safety sets and their evaluation: prompt-injection, leak and planted-note attacks."""
