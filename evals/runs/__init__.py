"""The parts of ``python -m evals run`` (``evals.runner.run`` puts them together): ``plan``
(options, notebooks, folders, gates), ``execute`` (papermill, what each notebook recorded);
the judging of each question is ``evals.judge`` and the report ``evals.report``."""
