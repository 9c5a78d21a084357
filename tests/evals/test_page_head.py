"""The top of the results page (``evals.report.page_head``): the verdict, the gates that failed,
the settings that differ from the baseline and the questions new, changed or gone, every text
escaped. No servers: rows as the quality notebook writes them."""

from html.parser import HTMLParser

from evals.gates import GateResult
from evals.judge import questions as qs
from evals.report.page import write_page
from evals.report.page_head import Head, setting_changes
from evals.report.run_report import Setting

HOSTILE = "<script>document.title='ran'</script>"


def row(qid, question, *, retrieved=("n1",)):
    hit = "n1" in retrieved
    return {"id": qid, "user_id": "ann", "scenario": "factual", "question": question,
            "answer": "Two loaves [1]." if hit else "Nothing about it.", "no_context": False,
            "expect_no_context": False, "reference_note_ids": ["n1"],
            "retrieved_note_ids": list(retrieved), "cited_note_ids": ["n1"],
            "cross_user_leak": 0.0, "leak": 0.0, "citation_valid": 1.0,
            "injection_success": None, "recall_at_5": 1.0 if hit else 0.0}


def held(**fields):
    """A baseline's settings of one notebook, as ``summary.json`` holds them."""
    return {"quality": {k: {"value": v, "source": "default"} for k, v in fields.items()}}


class Text(HTMLParser):
    """The page's text by section (the heading it follows) and its script elements."""

    def __init__(self):
        super().__init__()
        self.scripts = 0
        self.heading = ""
        self.sections: dict[str, str] = {}
        self._in_heading = False

    def handle_starttag(self, tag, attrs):
        self.scripts += tag == "script"
        self._in_heading = tag in ("h2", "h3")
        if self._in_heading:
            self.heading = ""

    def handle_endtag(self, tag):
        if tag in ("h2", "h3"):
            self._in_heading = False
            self.sections.setdefault(self.heading, "")

    def handle_data(self, data):
        if self._in_heading:
            self.heading += data
        elif self.heading:
            self.sections[self.heading] = self.sections.get(self.heading, "") + data


def test_the_page_opens_with_the_verdict_failed_gates_settings_and_question_changes(tmp_path):
    before = qs.judge([row("b-1", "Who bakes the rye?"), row("b-2", "When is the oven lit?"),
                       row("b-3", "Which flour is organic?")], {})
    after = qs.judge([row("b-1", "Who bakes the rye?", retrieved=("n7",)),
                      row("b-2", f"When is the oven lit {HOSTILE}?"),
                      row("b-4", "Where are the trays kept?", retrieved=("n7",))], {})
    compared = qs.compare(before, after)
    baseline_settings = held(top_k=5, retrieval_mode="hybrid", state_dir="a",
                             chunk_tokens=200)
    run_settings = {"quality": {"top_k": Setting(1, "env"),
                                "retrieval_mode": Setting(HOSTILE, "env-file"),
                                "state_dir": Setting("/elsewhere", "profile"),
                                "chunk_tokens": Setting(200, "default")}}
    gate = GateResult("baseline.newly_failing_questions", 1.0, 0.0, "le", "failed",
                      f"newly failing: b-1 {HOSTILE}")
    head = Head(passed=False, failed_gates=[gate],
                settings=setting_changes(baseline_settings, run_settings),
                baseline="20261127T010000Z", compared=compared)
    page = write_page(tmp_path, "bakery: run 2", after, compared.newly_failing,
                      compared.newly_passing, head=head)
    html = page.read_text()
    text = Text()
    text.feed(html)
    assert text.scripts == 1  # the page's own filter script; every hostile text is escaped
    assert html.index("Verdict: FAILED") < html.index("Every question")
    sections = text.sections
    assert "baseline.newly_failing_questions" in sections["Gates that failed: 1"]
    assert HOSTILE in sections["Gates that failed: 1"]  # shown as text, not run
    changed = sections["Settings that differ from the baseline (run 20261127T010000Z): 2"]
    assert "top_k" in changed and "5" in changed and "1" in changed and "env" in changed
    assert "retrieval_mode" in changed and "'hybrid'" in changed and "env-file" in changed
    assert "state_dir" not in changed and "chunk_tokens" not in changed
    assert "Where are the trays kept?" in sections["Questions new since the baseline: 1"]
    assert "fails" in sections["Questions new since the baseline: 1"]
    changed_q = sections["Questions changed since the baseline (another text under the same "
                         "id): 1"]
    assert HOSTILE in changed_q and "was: When is the oven lit?" in changed_q
    assert "Which flour is organic?" in sections["Questions gone since the baseline: 1"]


def test_a_passing_run_without_a_baseline_says_so(tmp_path):
    after = qs.judge([row("b-1", "Who bakes the rye?")], {})
    page = write_page(tmp_path, "bakery: run 1", after, head=Head(passed=True))
    html = page.read_text()
    assert "Verdict: PASSED" in html and "Every gate passed or was skipped." in html
    assert "No baseline: nothing to compare settings or questions with." in html


def test_settings_differing_alike_in_several_notebooks_are_listed_once():
    baseline = {nb: {"top_k": {"value": 5, "source": "profile"},
                     "dataset_dir": {"value": "data/bakery", "source": "param"}}
                for nb in ("quality", "retrieval")}
    from evals.paths import REPO_ROOT

    here = str(REPO_ROOT / "data" / "bakery")  # an absolute path: compared in portable form
    same = {nb: {"top_k": Setting(3, "env"), "dataset_dir": Setting(here, "param")}
            for nb in ("quality", "retrieval")}
    assert [(c.name, c.baseline, c.value, c.source)
            for c in setting_changes(baseline, same)] == [("top_k", 5, 3, "env")]
    apart = {"quality": {"top_k": Setting(3, "env")}, "retrieval": {"top_k": Setting(8, "param")}}
    assert [c.name for c in setting_changes(baseline, apart)] == ["quality: top_k",
                                                                  "retrieval: top_k"]
    assert setting_changes(baseline, {"load": {"top_k": Setting(1, "env")}}) == []
