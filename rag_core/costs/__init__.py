"""Prices, spend and budgets: the ledger, the bill of one generation, the durable cost queue
and the ledger's Redis scripts."""
