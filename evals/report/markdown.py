"""``summary.md``: what changed first, then the run's parameters and Settings, the gates, the
targets not met, the notebooks, notes, plots and every metric against the previous run and the
baseline, each in its unit (``evals/units.py``)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

from evals import units
from evals.gates import OPS, Gate, GateResult, targets_missed
from evals.jsonish import array, mapping
from evals.paths import REPO_ROOT
from evals.report import noise
from evals.report.record import NotebookOutcome
from evals.report.run_compare import changes, delta
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


def _settings_lines(summary: Mapping[str, object]) -> list[str]:
    lines: list[str] = []
    for notebook, params in mapping(summary.get("parameters")).items():
        shown = ", ".join(f"{k}={_local(v)!r}" for k, v in mapping(params).items()
                          if k != "output_dir")
        lines.append(f"- `{notebook}` parameters: {shown or '-'}")
        fields = {k: mapping(v) for k, v in
                  mapping(mapping(summary.get("settings")).get(notebook)).items()}
        set_ = [f"{k}={_local(v['value'])!r} ({v['source']})" for k, v in sorted(fields.items())
                if v["source"] != "default"]
        if fields:
            lines.append(f"- `{notebook}` Settings not at their default: "
                         f"{', '.join(set_) or 'none'} ({len(fields) - len(set_)} more at "
                         "their defaults: summary.json)")
    return lines


def _header(summary: Mapping[str, object], results: Sequence[GateResult], verdict: str,
            previous: Mapping[str, object] | None, baseline_path: str | None) -> list[str]:
    run = mapping(summary.get("run"))
    failed = sum(r.status == "failed" for r in results)
    prev_id = run.get("previous")
    change = changes(previous, summary) if previous else []
    dataset = mapping(run.get("dataset")).get("name")
    on = f", dataset `{dataset}`" if dataset else ""
    lines = [f"# Harness report: profile `{summary['profile']}`{on} ({verdict})", ""]
    if previous is None:
        lines.append("- changed: no previous run to compare with")
    else:
        lines.append(f"- changed against the previous run `{prev_id}`: "
                     + ("; ".join(change) if change else "nothing in parameters or Settings"))
    lines += [
        f"- run: `{run.get('id', '-')}` started {summary['started_at']}, git commit "
        f"`{summary['git_commit']}`",
        f"- baseline: `{baseline_path}`" if baseline_path else "- baseline: none",
        f"- gates: {sum(r.status == 'passed' for r in results)} passed, {failed} failed, "
        f"{sum(r.status == 'skipped' for r in results)} skipped",
    ]
    environment = mapping(summary.get("environment"))
    for warning in array(environment.get("warnings")):
        lines.append(f"- **WARNING**: {warning}")
    state = environment.get("state_dir")
    if state:
        lines.append(f"- state folder: `{rel(str(state), REPO_ROOT)}`")
    if run.get("rows_from"):
        lines.append(f"- rows of notebooks not run here come from run(s) "
                     f"{', '.join(str(r) for r in array(run['rows_from']))} "
                     "(an `--only` run merged into this folder)")
    return lines + _settings_lines(summary)


def _gate_rows(summary: Mapping[str, object], results: Sequence[GateResult],
               previous: Mapping[str, object] | None, baseline: Mapping[str, object] | None
               ) -> list[list[str]]:
    metrics = mapping(summary["metrics"])
    rows = []
    for r in results:
        old = mapping((previous or {}).get("metrics")).get(r.name)
        base = mapping((baseline or {}).get("metrics")).get(r.name)
        rows.append([
            f"`{r.name}`", units.fmt_value(r.name, r.value),
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


def verdict_lines(summary: Mapping[str, object], results: Sequence[GateResult],
                  notebooks: Sequence[NotebookOutcome], verdict: str) -> list[str]:
    """The first screen: the verdict, every failed gate explained, every failed notebook."""
    from evals.report.explain import explain_lines

    failed = [r for r in results if r.status == "failed"]
    counts = {s: sum(r.status == s for r in results) for s in ("passed", "failed", "skipped")}
    lines = ["## Verdict", "",
             f"**{verdict}**: {counts['passed']} gates passed, {counts['failed']} failed, "
             f"{counts['skipped']} skipped; {sum(n.ok for n in notebooks)} of "
             f"{len(notebooks)} notebooks ran to the end."]
    command = mapping(summary.get("run")).get("command")
    if command:
        lines += ["", f"Command: `{command}`"]
    broken = [n for n in notebooks if not n.ok]
    if broken:
        lines += ["", "Notebooks that failed:", ""]
        lines += [f"- `{n.name}`: {n.error[:300]}" for n in broken]
    if failed:
        lines += ["", "Failed gates:", ""]
        for r in failed:
            lines += explain_lines(r, summary, reason=r.note)
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


def render_markdown(summary: Mapping[str, object], results: Sequence[GateResult],
                    notebooks: Sequence[NotebookOutcome], *,
                    baseline: Mapping[str, object] | None, baseline_path: str | None,
                    previous: Mapping[str, object] | None, gates: Sequence[Gate],
                    out_dir: Path, sections: Sequence[str] = ()) -> str:
    failed = [r for r in results if r.status == "failed"]
    verdict = "FAILED" if failed or not all(n.ok for n in notebooks) else "PASSED"
    not_run = [r for r in results if r.status == "skipped" and r.note.endswith("not run")]
    shown = [r for r in results if r not in not_run]
    parts = _header(summary, results, verdict, previous, baseline_path)
    parts = parts[:2] + verdict_lines(summary, results, notebooks, verdict) + parts[2:]
    header, rows = drop_empty_columns(
        ["gate", "value", "dev", "op", "threshold", "prev", "Δ prev", "baseline",
         "Δ baseline", "status", "note"], _gate_rows(summary, shown, previous, baseline))
    parts += [
        "", "## Gates", "",
        "Gated figures are those of the test split (items without a split count as test); "
        "`dev` is the same metric on the dev split, where rules and thresholds were tuned. "
        "`prev`: the previous run. A failed gate is explained under Verdict.", "",
        *details(f"{len(shown)} gates: " + ", ".join(
            f"{sum(r.status == st for r in shown)} {st}" for st in ("passed", "failed",
                                                                    "skipped")),
                 [md_table(header, rows)]),
    ]
    if not_run:
        names = sorted({r.name.split(".", 1)[0] for r in not_run})
        parts += ["", f"{len(not_run)} gates of notebooks that did not run "
                      f"({', '.join(names)}): skipped."]
    if sections:
        parts += ["", *sections]
    missed = targets_missed(gates, results)
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
              *details(f"{len(mapping(summary['metrics']))} metrics", [
                  metrics_table(mapping(summary["metrics"]), previous, baseline,
                                noise.bands(str(summary.get("profile", ""))))]), ""]
    # notes and errors written by notebooks may name files of the checkout: relative, too
    return "\n".join(parts).replace(str(REPO_ROOT) + "/", "")


def metrics_table(metrics: Mapping[str, object], previous: Mapping[str, object] | None,
                  baseline: Mapping[str, object] | None,
                  bands: Mapping[str, float] | None = None) -> str:
    """Each metric against the previous run and the baseline; ``bands`` (``evals.report.noise``):
    the range of repeated runs, shown beside the deltas, a delta inside it marked ``~``."""
    prev = mapping((previous or {}).get("metrics"))
    base = mapping((baseline or {}).get("metrics"))
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
