"""Each question of a run judged on its own: the checks it passes (its reference note retrieved,
a refusal where one is expected, no leak, its own assertions), the questions that flipped
against another run or a dataset's baseline, the metrics that moved beyond their noise, and a
JUnit file for a CI system's test view.

- ``assertions``: checks a QA item states on its answer (``contains``, ``regex``, ``cites``...);
- ``questions``: one judged row per question, flips between two runs, Wilson intervals;
- ``paired``: a metric's change between two runs with a paired bootstrap interval;
- ``baseline``: a dataset's ``baseline.json`` and a run judged against it;
- ``junit``: the JUnit XML of a run;
- ``outcome``: all of it for one run, as the runner uses it.
"""
