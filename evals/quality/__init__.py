"""Notebook 01: answer quality on a data set's questions, the no-context decision, and generators
side by side."""
