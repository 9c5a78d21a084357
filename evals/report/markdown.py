"""``summary.md``: what changed first, then the run's parameters and Settings, the gates, the
targets not met, the notebooks, notes, plots and every metric against the previous run and the
baseline, each in its unit (``evals/units.py``)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

from evals import units
from evals.gates import OPS, GateResult, targets_missed
from evals.paths import REPO_ROOT
from evals.report import noise
from evals.report.run_compare import changes, delta
from evals.report.run_report import RunReport, RunSummary, count_text
from evals.report.tables import md_table


def dev_name(name: str) -> str:
    """The dev split's metric beside a gated one: ``quality.x`` -> ``quality.dev.x``."""
    prefix, _, rest = name.partition(".")
    return f"{prefix}.dev.{rest}"


def rel(path: str | Path, base: Path) -> str:
    try:
        return str(Path(path).resolve().relative_to(base.resolve()))
    except ValueError:
        return str(path)


def _local(value: object) -> object:
    """A path inside the checkout, repository-relative (a report shows no machine's paths)."""
    text = str(value)
    if isinstance(value, str | Path) and text.startswith(str(REPO_ROOT) + "/"):
        return rel(text, REPO_ROOT)
    return value


def _settings_lines(summary: RunSummary) -> list[str]:
    lines: list[str] = []
    for notebook, params in summary.parameters.items():
        shown = ", ".join(f"{k}={_local(v)!r}" for k, v in params.items() if k != "output_dir")
        lines.append(f"- `{notebook}` parameters: {shown or '-'}")
        fields = summary.settings.get(notebook, {})
        set_ = [f"{k}={_local(v.value)!r} ({v.source})" for k, v in sorted(fields.items())
                if v.source != "default"]
        if fields:
            lines.append(f"- `{notebook}` Settings not at their default: "
                         f"{', '.join(set_) or 'none'} ({len(fields) - len(set_)} more at "
                         "their defaults: summary.json)")
    return lines


def _header(report: RunReport, verdict: str) -> list[str]:
    summary, results, previous = report.summary, report.results, report.previous
    run = summary.run
    failed = sum(r.status == "failed" for r in results)
    change = changes(previous, summary) if previous else []
    dataset = summary.dataset_name
    on = f", dataset `{dataset}`" if dataset else ""
    lines = [f"# Harness report: profile `{summary.profile}`{on} ({verdict})", ""]
    if previous is None:
        lines.append("- changed: no previous run to compare with")
    else:
        lines.append(f"- changed against the previous run `{run.previous}`: "
                     + ("; ".join(change) if change else "nothing in parameters or Settings"))
    base = report.baseline.path if report.baseline else None
    lines += [
        f"- run: `{run.id}` started {summary.started_at}, git commit `{summary.git_commit}`",
        f"- baseline: `{base}`" if base else "- baseline: none",
        f"- gates: {sum(r.status == 'passed' for r in results)} passed, {failed} failed, "
        f"{sum(r.status == 'skipped' for r in results)} skipped",
    ]
    environment = summary.environment
    for warning in environment.warnings:
        lines.append(f"- **WARNING**: {warning}")
    if environment.state_dir:
        lines.append(f"- state folder: `{rel(environment.state_dir, REPO_ROOT)}`")
    if run.generator:
        lines.append(f"- generator of the quality run: {run.generator}")
    if run.env_file:
        lines.append(f"- settings file (--env-file): `{run.env_file}`")
    for text in run.overridden:
        lines.append(f"- **overridden**: {text}")
    if run.rows_from:
        lines.append(f"- rows of notebooks not run here come from run(s) "
                     f"{', '.join(run.rows_from)} (an `--only` run merged into this folder)")
    return lines + _settings_lines(summary)


def _gate_rows(report: RunReport, results: Sequence[GateResult]) -> list[list[str]]:
    metrics, previous = report.summary.metrics, report.previous
    prev = previous.metrics if previous else {}
    base_metrics = report.baseline.metrics if report.baseline else {}
    rows = []
    for r in results:
        old, base = prev.get(r.name), base_metrics.get(r.name)
        rows.append([
            f"`{r.name}`", units.fmt_value(r.name, r.value),
            count_text(report.counts, r.name),
            units.fmt_value(r.name, metrics.get(dev_name(r.name))), OPS[r.op][0],
            units.fmt_value(r.name, r.threshold), units.fmt_value(r.name, old),
            units.fmt_delta(r.name, delta(r.value, old))
            if r.value is not None and previous is not None else "-",
            units.fmt_value(r.name, base),
            units.fmt_delta(r.name, delta(r.value, base)) if r.value is not None else "-",
            "**FAILED**" if r.status == "failed" else r.status,
            ("see Verdict" if r.status == "failed" else r.note) if r.status != "passed"
            else ""])
    return rows


def verdict_lines(report: RunReport, verdict: str) -> list[str]:
    """The first screen: the verdict, every failed gate explained, every failed notebook."""
    from evals.report.explain import explain_lines

    results, notebooks = report.results, report.notebooks
    failed = [r for r in results if r.status == "failed"]
    counts = {s: sum(r.status == s for r in results) for s in ("passed", "failed", "skipped")}
    lines = ["## Verdict", "",
             f"**{verdict}**: {counts['passed']} gates passed, {counts['failed']} failed, "
             f"{counts['skipped']} skipped; {sum(n.ok for n in notebooks)} of "
             f"{len(notebooks)} notebooks ran to the end."]
    command = report.summary.run.command
    if command:
        lines += ["", f"Command: `{command}`"]
    broken = [n for n in notebooks if not n.ok]
    if broken:
        lines += ["", "Notebooks that failed:", ""]
        lines += [f"- `{n.name}`: {n.error[:300]}" for n in broken]
    if failed:
        lines += ["", "Failed gates:", ""]
        for r in failed:
            lines += explain_lines(r, report.summary, reason=r.note, counts=report.counts)
    return lines + [""]


def details(title: str, body: Sequence[str]) -> list[str]:
    """``body`` folded under ``title`` (HTML ``<details>``, which GitHub and most Markdown
    viewers render, Markdown inside included): the page opens on the verdict and the gates,
    and the long tables are one click away."""
    return ["<details>", f"<summary>{title}</summary>", "", *body, "", "</details>"]


def drop_empty_columns(header: Sequence[str], rows: Sequence[Sequence[str]]
                       ) -> tuple[list[str], list[list[str]]]:
    """Columns whose every cell is empty or ``-`` are left out."""
    keep = [i for i in range(len(header))
            if any(str(r[i]).strip() not in ("", "-") for r in rows)] if rows else list(
        range(len(header)))
    return [header[i] for i in keep], [[r[i] for i in keep] for r in rows]


def render_markdown(report: RunReport, out_dir: Path) -> str:
    summary, results, notebooks = report.summary, report.results, report.notebooks
    verdict = "FAILED" if report.failed else "PASSED"
    not_run = [r for r in results if r.status == "skipped" and r.note.endswith("not run")]
    shown = [r for r in results if r not in not_run]
    parts = _header(report, verdict)
    parts = parts[:2] + verdict_lines(report, verdict) + parts[2:]
    header, rows = drop_empty_columns(
        ["gate", "value", "count (95 % interval)", "dev", "op", "threshold", "prev", "Δ prev",
         "baseline", "Δ baseline", "status", "note"], _gate_rows(report, shown))
    parts += [
        "", "## Gates", "",
        "Gated figures are those of the test split (items without a split count as test); "
        "`dev` is the same metric on the dev split, where rules and thresholds were tuned. "
        "`prev`: the previous run. A rate over questions shows its count and 95 % Wilson "
        "interval. A failed gate is explained under Verdict.", "",
        *details(f"{len(shown)} gates: " + ", ".join(
            f"{sum(r.status == st for r in shown)} {st}" for st in ("passed", "failed",
                                                                    "skipped")),
                 [md_table(header, rows)]),
    ]
    if not_run:
        names = sorted({r.name.split(".", 1)[0] for r in not_run})
        parts += ["", f"{len(not_run)} gates of notebooks that did not run "
                      f"({', '.join(names)}): skipped."]
    sections = report.sections
    if sections:
        parts += ["", *sections]
    missed = targets_missed(report.gates, results)
    if missed:
        parts += ["", "## Targets not met (the gate passes; the issue's target does not)", ""]
        parts += [f"- `{g.name}`: {units.fmt_value(g.name, r.value)}, target "
                  f"{OPS[g.op][0]} {units.fmt_value(g.name, g.target)}" for g, r in missed]
    parts += [
        "", "## Notebooks", "",
        md_table(["notebook", "status", "seconds", "executed"],
                 [[n.name, "ok" if n.ok else f"**failed**: {n.error[:200]}", f"{n.seconds:.1f}",
                   f"[{Path(n.executed).name}]({rel(n.executed, out_dir)})"] for n in notebooks]),
    ]
    notes = [(n.name, k, v) for n in notebooks for k, v in n.notes.items()]
    if notes:
        parts += ["", "## Notes", "", *details(
            f"{len(notes)} notes of the notebooks",
            [f"- {name} / {key}: {text}" for name, key, text in notes])]
    tables = [(n.name, title, table) for n in notebooks for title, table in n.tables.items()]
    for name, title, table in tables:
        lines = max(str(table).count("\n") - 1, 0)
        parts += ["", f"## {name}: {title}", "", *details(f"{lines} rows", [table])]
    plots = [(n.name, a) for n in notebooks for a in n.artifacts if a.endswith(".png")]
    if plots:
        from evals.report.figures import caption, shown_path

        parts += ["", "## Plots", ""]
        for name, artifact in plots:
            beside = shown_path(artifact, out_dir)
            parts += [f"### {name}: {Path(artifact).stem}", "",
                      f"![{Path(artifact).stem}]({rel(beside, out_dir)})", "",
                      f"*{caption(artifact, name)}*", ""]
    parts += ["", "## Metrics (against the previous run and the baseline)", "",
              "A delta marked `~` is inside the noise: no larger than the range of repeated runs "
              "of the same code (`python -m evals spread`, reports/spread/). Every metric is "
              "also in summary.json.", "",
              *details(f"{len(summary.metrics)} metrics", [
                  metrics_table(summary.metrics,
                                report.previous.metrics if report.previous else None,
                                report.baseline.metrics if report.baseline else None,
                                noise.bands(summary.profile))]), ""]
    # notes and errors written by notebooks may name files of the checkout: relative, too
    return "\n".join(parts).replace(str(REPO_ROOT) + "/", "")


def metrics_table(metrics: Mapping[str, object], previous: Mapping[str, object] | None,
                  baseline: Mapping[str, object] | None,
                  bands: Mapping[str, float] | None = None) -> str:
    """Each metric against the previous run's and the baseline's metrics; ``bands``
    (``evals.report.noise``): the range of repeated runs, shown beside the deltas, a delta
    inside it marked ``~``."""
    prev = previous or {}
    base = baseline or {}
    bands = bands or {}
    rows = []
    for name in sorted(metrics):
        value = metrics[name]
        band = bands.get(name)

        def shown(old: object, name: str = name, value: object = value,
                  band: float | None = band) -> str:
            change = delta(value, old)
            text = units.fmt_delta(name, change, value)
            return f"~{text}" if noise.within(change, band) and text != "0" else text

        rows.append([f"`{name}`", units.fmt_value(name, value),
                     units.fmt_value(name, prev.get(name)),
                     shown(prev.get(name)) if value is not None and previous is not None
                     else "-",
                     units.fmt_value(name, base.get(name)),
                     shown(base.get(name)) if value is not None else "-",
                     units.fmt_delta(name, band, value).lstrip("+") if band else "-"])
    return md_table(*drop_empty_columns(["metric", "value", "prev", "Δ prev", "baseline",
                                         "Δ baseline", "noise (range of repeats)"], rows))
