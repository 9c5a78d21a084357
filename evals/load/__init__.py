"""Notebook 04: Locust load tests, the stack they run against, and their figures."""
