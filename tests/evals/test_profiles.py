from pathlib import Path

import nbformat
import papermill
import pytest

from evals import profiles
from evals.profiles import NotebookSpec

SPECS = [(spec, profile) for spec in profiles.NOTEBOOKS for profile in spec.params]


@pytest.mark.parametrize("spec,profile", SPECS, ids=[f"{s.name}-{p}" for s, p in SPECS])
def test_every_profile_parameter_exists_in_the_notebook(spec, profile):
    declared = papermill.inspect_notebook(str(spec.file))
    assert "output_dir" in declared, "the runner always passes output_dir"
    unknown = set(spec.params[profile]) - set(declared)
    assert not unknown, f"{spec.path} has no parameters {sorted(unknown)}"


def test_profiles_name_only_known_profiles_and_unique_notebooks():
    for spec in profiles.NOTEBOOKS:
        assert set(spec.params) <= set(profiles.PROFILES)
        assert spec.file.is_file()
    names = [s.name for s in profiles.NOTEBOOKS]
    assert len(names) == len(set(names))


def test_the_quality_notebook_runs_in_every_profile_but_the_soak():
    for profile in profiles.PROFILES:
        if profile != "soak":
            assert "quality" in [s.name for s in profiles.notebooks_for(profile)]
    assert [s.name for s in profiles.notebooks_for("soak")] == ["load"]  # the load alone


def test_quality_notebook_declares_every_tuning_parameter():
    declared = papermill.inspect_notebook(str(profiles.find("quality").file))
    assert {"top_k", "context_budget", "generator", "similarity_threshold", "retrieval_mode",
            "sample", "sanitiser", "sweep_top_k", "sweep_context_budget", "output_dir",
            "seed"} <= set(declared)


FAKE = (
    NotebookSpec("a", "notebooks/a.ipynb", {"ci": {"x": 1}, "full": {"x": 2}}),
    NotebookSpec("b", "notebooks/02_b.ipynb", {"full": {}}),
)


def test_selection_by_profile_and_only():
    assert [s.name for s in profiles.notebooks_for("ci", notebooks=FAKE)] == ["a"]
    assert [s.name for s in profiles.notebooks_for("full", notebooks=FAKE)] == ["a", "b"]
    assert [s.name for s in profiles.notebooks_for("full", ["02_b"], FAKE)] == ["b"]
    with pytest.raises(ValueError, match="not in profile"):
        profiles.notebooks_for("ci", ["b"], FAKE)
    with pytest.raises(ValueError, match="no notebook named"):
        profiles.notebooks_for("ci", ["zzz"], FAKE)
    with pytest.raises(ValueError, match="unknown profile"):
        profiles.notebooks_for("nightly", notebooks=FAKE)


def test_parameters_add_output_dir_and_overrides(tmp_path):
    params = profiles.parameters(FAKE[0], "full", tmp_path, {"x": 9, "y": True})
    assert params == {"x": 9, "y": True, "output_dir": str(tmp_path)}


@pytest.mark.parametrize("spec", profiles.NOTEBOOKS, ids=[s.name for s in profiles.NOTEBOOKS])
def test_a_notebook_opened_in_lab_has_the_ci_profiles_values(spec):
    """A value tuned in Lab reproduces the recorded ci figure: the parameters cell's defaults
    are the ci profile's parameters."""
    import ast

    declared = papermill.inspect_notebook(str(spec.file))
    defaults = {k: ast.literal_eval(v["default"]) for k, v in declared.items()
                if k in spec.params["ci"]}
    assert defaults == dict(spec.params["ci"])


def test_dev_and_tune_run_the_ci_values_and_tune_skips_the_slow_extras():
    quality = profiles.find("quality")
    assert quality.profile_params("dev") == dict(quality.params["ci"])
    tuned = quality.profile_params("tune")
    assert tuned["compare_generators"] == []
    assert {k: v for k, v in tuned.items() if k != "compare_generators"} == {
        k: v for k, v in quality.params["ci"].items() if k != "compare_generators"}
    for profile in ("dev", "tune"):
        assert [s.name for s in profiles.notebooks_for(profile)] == [
            s.name for s in profiles.notebooks_for("ci")]


def test_the_tune_and_smoke_changes_are_parameters_of_their_notebooks():
    for changes in (profiles.TUNE_SKIPS, profiles.SMOKE_SIZES):
        for name, values in changes.items():
            declared = papermill.inspect_notebook(str(profiles.find(name).file))
            assert set(values) <= set(declared), name


def test_smoke_is_tune_at_shorter_runs_and_skips_the_same_gates():
    for spec in profiles.NOTEBOOKS:
        if not spec.in_profile("ci"):
            continue
        smoke, tune = spec.profile_params("smoke"), spec.profile_params("tune")
        changed = {k for k in smoke if smoke[k] != tune[k]}
        assert changed == set(profiles.SMOKE_SIZES.get(spec.name, {})), spec.name
    assert profiles.find("quality").profile_params("smoke")["sample"] == 60
    assert profiles.find("load").profile_params("smoke")["duration_s"] == 10


def test_prepare_injects_the_profile_and_keeps_the_references(tmp_path: Path) -> None:
    """What `python -m evals nbval` gives nbval: the smoke values after each parameters cell,
    the committed reference outputs untouched, nothing executed."""
    from evals import cli

    assert cli.main(["prepare", "--profile", "smoke", "--only", "quality",
                     "--out", str(tmp_path)]) == 0
    original = nbformat.read(profiles.find("quality").file, as_version=4)
    prepared = nbformat.read(tmp_path / profiles.find("quality").file.name, as_version=4)
    tags = [c.metadata.get("tags", []) for c in prepared.cells]
    injected = tags.index(["injected-parameters"])
    assert tags[injected - 1] == ["parameters"]
    assert "compare_generators = []" in prepared.cells[injected].source
    assert "sample = 60" in prepared.cells[injected].source
    checked = [c for c in prepared.cells if "nbval-check-output" in c.metadata.get("tags", [])]
    assert checked and [c.outputs for c in checked] == [
        c.outputs for c in original.cells if "nbval-check-output" in c.metadata.get("tags", [])]
    assert all(c.outputs == [] for c in prepared.cells
               if c.cell_type == "code" and c not in checked)
    assert list(tmp_path.iterdir()) == [tmp_path / "01_quality_eval.ipynb"]


def test_prepare_names_an_unknown_notebook(tmp_path: Path, capsys: pytest.CaptureFixture[str]
                                           ) -> None:
    from evals import cli

    assert cli.main(["prepare", "--only", "nope", "--out", str(tmp_path)]) == 2
    assert "no notebook named 'nope'" in capsys.readouterr().err
