"""The parts of ``python -m evals run`` (``evals.runner.run`` puts them together): ``plan``
(options, notebooks, folders, gates), ``execute`` (papermill, what each notebook recorded),
``report`` (the report written, the baseline, JUnit) and ``steps`` (what each step hands the
next); the judging of each question is ``evals.judge`` and the report's files ``evals.report``."""
