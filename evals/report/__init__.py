"""The run's report: summary files, markdown, comparisons between runs, plots, noise and spread."""
