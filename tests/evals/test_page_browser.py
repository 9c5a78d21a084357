"""The results page (``evals.report.page``) as a browser shows it: chromium, headless, runs its
script and dumps the DOM. A newly failing question is read from the flips section, and the
pass/fail filter (driven by the address's fragment, as the buttons set it) hides the rows it
should. Skipped without chromium, failed under CI (``tests/browser.py``)."""

from __future__ import annotations

from html.parser import HTMLParser

from browser import rendered

from evals.judge import questions as qs
from evals.report.page import write_page


def row(qid: str, question: str, *, retrieved: tuple[str, ...] = ("n1",)) -> dict[str, object]:
    hit = "n1" in retrieved
    return {"id": qid, "user_id": "ann", "scenario": "factual", "question": question,
            "answer": "The bill was 870 dollars [1]." if hit else "Nothing about it.",
            "no_context": False, "expect_no_context": False, "reference_note_ids": ["n1"],
            "retrieved_note_ids": list(retrieved), "cited_note_ids": ["n1"],
            "cross_user_leak": 0.0, "leak": 0.0, "citation_valid": 1.0,
            "injection_success": None, "recall_at_5": 1.0 if hit else 0.0}


class Rows(HTMLParser):
    """Each question row of the dumped DOM: its section (``flips`` or ``every``), id, state,
    whether it is hidden, and its text."""

    def __init__(self) -> None:
        super().__init__()
        self.section = ""
        self.rows: list[dict[str, object]] = []
        self._row: dict[str, object] | None = None
        self._in_h2 = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        if tag == "h2":
            self._in_h2 = True
        if tag == "tr" and a.get("data-state"):
            self._row = {"section": self.section, "id": a.get("id"), "state": a["data-state"],
                         "hidden": "display: none" in (a.get("style") or ""), "text": ""}
            self.rows.append(self._row)

    def handle_endtag(self, tag: str) -> None:
        if tag == "h2":
            self._in_h2 = False
        if tag == "tr":
            self._row = None

    def handle_data(self, data: str) -> None:
        if self._in_h2:
            self.section = "flips" if "flipped" in data else "every" if "Every" in data \
                else self.section
        if self._row is not None:
            self._row["text"] = str(self._row["text"]) + data


def test_the_browser_shows_the_newly_failing_question_and_filters_by_state(tmp_path):
    asked = [("trip-1", "What did the hut cost in 2019?"), ("trip-2", "Who led the ridge walk?"),
             ("trip-3", "Which pass was closed by snow?")]
    before = qs.judge([row(i, q) for i, q in asked], {})
    after = qs.judge([row("trip-1", asked[0][1], retrieved=("n7",)),
                      *[row(i, q) for i, q in asked[1:]]], {})
    failing, passing = qs.flips(before, after)
    page = write_page(tmp_path, "trips: run 2", after, failing, passing)
    profile = tmp_path / "profile"

    shown = Rows()
    shown.feed(rendered(page, profile))
    flips = [r for r in shown.rows if r["section"] == "flips"]
    assert [(r["id"], r["state"]) for r in flips] == [("q-trip-1", "fail")]
    assert "What did the hut cost in 2019?" in str(flips[0]["text"])
    assert "✗ reference_retrieved" in str(flips[0]["text"])
    assert "before: The bill was 870 dollars [1]." in str(flips[0]["text"])  # its old answer
    assert "passed before" in str(flips[0]["text"])
    assert not any(r["hidden"] for r in shown.rows)  # no fragment: every question shown

    failing_only = Rows()
    dom = rendered(page, profile, "fail")
    failing_only.feed(dom)
    every = [r for r in failing_only.rows if r["section"] == "every"]
    assert {r["id"]: r["hidden"] for r in every} == {
        "q-trip-1": False, "q-trip-2": True, "q-trip-3": True}
    assert "showing fail: 1" in dom  # the script ran and counted what it shows

    passing_only = Rows()
    passing_only.feed(rendered(page, profile, "pass"))
    visible = [r["id"] for r in passing_only.rows if r["section"] == "every" and not r["hidden"]]
    assert visible == ["q-trip-2", "q-trip-3"]


def test_the_pages_top_runs_no_script_of_a_setting_gate_or_question(tmp_path):
    from evals.gates import GateResult
    from evals.report.page_head import Head, SettingChange

    hostile = "<img src=x onerror=\"document.title='ran'\"><script>document.title='ran'</script>"
    before = qs.judge([row("trip-1", "Who led the ridge walk?")], {})
    after = qs.judge([row("trip-1", f"Who led the ridge walk {hostile}?"),
                      row("trip-2", hostile)], {})
    compared = qs.compare(before, after)
    head = Head(passed=False,
                failed_gates=[GateResult("baseline.new_questions_failing", 1.0, 0.0, "le",
                                         "failed", hostile)],
                settings=[SettingChange("retrieval_mode", "auto", hostile, "env-file")],
                baseline="20261127T010000Z", compared=compared)
    page = write_page(tmp_path, "trips", after, head=head)
    dom = rendered(page, tmp_path / "profile")
    title = dom.split("<title>", 1)[1].split("</title>", 1)[0]
    assert title == "trips"  # no script of the texts ran
    assert "Verdict: FAILED" in dom and "Gates that failed: 1" in dom
    assert "Questions changed since the baseline" in dom and "Questions new since" in dom


def test_a_note_s_script_is_answered_as_its_text_and_the_page_shows_it_inert(tmp_path):
    """Issue 81: the answer carries a note's ``<script>`` as written (escaping is the
    renderer's), and the results page, which renders it, escapes it: no script of it runs."""
    from rag_core.postprocess import finish_text
    from rag_core.types import Chunk

    note = Chunk(chunk_id="kiosk:0:a", note_id="kiosk", user_id="ann", ordinal=0, score=0.9,
                 text="The kiosk page had <script>document.title='ran'</script> pasted in by "
                      "a volunteer.", metadata={"title": "Kiosk"})
    answer, _ = finish_text("The kiosk page had <script>document.title='ran'</script> pasted "
                            "in [1].", [note])
    assert "<script>document.title='ran'</script> pasted" in answer and "&lt;" not in answer
    asked = row("kiosk-1", "What was pasted into the kiosk page?")
    page = write_page(tmp_path, "kiosk", qs.judge([{**asked, "answer": answer}], {}))
    dom = rendered(page, tmp_path / "profile")
    assert dom.split("<title>", 1)[1].split("</title>", 1)[0] == "kiosk"  # it did not run
    shown = Rows()
    shown.feed(dom)
    assert "<script>document.title='ran'</script>" in str(shown.rows[0]["text"])
