"""End to end in Chromium: a reader's whole workflow in an editable study with extra
questions and a practice item, crawled for blinding leaks.

Set-up through the db API: three small phantom cases, two stand-in methods (distinctive
names, titles, descriptions, versions, run folders), an editable study of two cases with
every question preset (per-structure Likert, yes / no, number, free text) and the third
case as its practice case. In the browser the reader signs in, scores the practice item,
scores a real item answering every question, flags an item for the coordinator and opens
"Review my answers". Every websocket frame and page HTML her browser receives is searched
for every method name, title, description, version, run path and case name / file path
(read back from the db); the question prompts and item codes must be found (the crawl sees
what the page shows). The stored practice score, answers and flag are then read with SQL.
"""

from __future__ import annotations

import re
import sqlite3
from pathlib import Path

import pytest

from tests.browser_utils import (
    assert_no_leaks,
    choose_score,
    chromium_path,
    click_until,
    collect_ws_frames,
    frames_text,
    launch_browser,
    open_review,
    save_failure,
    sign_in,
    start_streamlit,
    stop_streamlit,
    submit_item,
    wait_for_app,
)

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

REPO = Path(__file__).resolve().parents[1]
TIMEOUT_MS = 90_000
READER = ("reader_flow", "reader-flow-pass-1")
METHODS = {
    "secret_wf_walrus": ("Walrus Vendor Title", "walrus-version-9f1e2d", "Walrus net described"),
    "secret_wf_narwhal": ("Narwhal Vendor Title", "narwhal-version-4c5b6a", "Narwhal described"),
}
CASES = ("wfcase-lynx", "wfcase-ibex", "wfcase-practice-okapi")
STUDY = "Workflow study"


def _setup(workspace: Path) -> tuple[list[str], list[str]]:
    """Cases, runs and an open editable study; returns (forbidden strings, question prompts)."""
    from db import auth, catalog, studies
    from db import questions as study_questions
    from db.engine import get_engine, init_db, session_scope
    from db.studies import DEFAULT_QUESTION
    from livseg.io import save_labels, save_volume
    from livseg.phantom import generate_case

    engine = get_engine(f"sqlite:///{workspace / 'livseg.db'}")
    init_db(engine)
    cases_dir = workspace / "cases"
    cases_dir.mkdir(parents=True)
    with session_scope(engine) as s:
        coordinator = auth.create_first_coordinator(s, "coord", "coordinator-pass-1")
        auth.create_reader(s, coordinator, READER[0], password=READER[1])
        for method, (_, _, description) in METHODS.items():
            catalog.register_method(s, coordinator, method, description)
        for i, name in enumerate(CASES):
            case = generate_case(60 + i, size="small")
            image = save_volume(case.volume, cases_dir / f"volume-{name}.nii.gz")
            labels = save_labels(
                case.labels, case.volume, cases_dir / f"segmentation-{name}.nii.gz"
            )
            catalog.register_case(s, coordinator, name, image, labels)
            for method, (_, version, _) in METHODS.items():
                run_dir = workspace / "runs" / method
                run_dir.mkdir(parents=True, exist_ok=True)
                pred = save_labels(case.labels, case.volume, run_dir / f"{name}.nii.gz")
                catalog.register_run(
                    s, coordinator, name, method, pred, 2.5, device="cpu", method_version=version
                )
    with sqlite3.connect(workspace / "livseg.db") as con:
        for method, (title, _, _) in METHODS.items():
            con.execute("update methods set title = ? where name = ?", (title, method))
    questions = study_questions.questions_from_presets(
        list(study_questions.PRESETS), DEFAULT_QUESTION
    )
    with session_scope(engine) as s:
        study = studies.create_study(
            s, coordinator, STUDY, cases=list(CASES[:2]), methods=list(METHODS),
            readers=[READER[0]], seed=5, edit_policy="editable", questions=questions,
            practice_cases=[CASES[2]],
        )  # fmt: skip
        studies.open_study(s, coordinator, study)
    with session_scope(engine) as s:
        methods = catalog.list_methods(s, coordinator)
    forbidden = set()
    for column in ("name", "title", "description"):
        if column in methods:
            forbidden |= {str(v) for v in methods[column] if v}
    with sqlite3.connect(workspace / "livseg.db") as con:
        for row in con.execute("select name, title, description from methods"):
            forbidden |= {str(v) for v in row if v}
        for row in con.execute("select prediction_path, method_version from runs"):
            forbidden |= {str(v) for v in row if v}
            forbidden |= {Path(row[0]).name, str(Path(row[0]).parent)}
        for row in con.execute("select name, image_path, label_path from cases"):
            forbidden |= {str(v) for v in row if v}
            forbidden |= {Path(v).name for v in row[1:] if v}
    assert set(METHODS) <= forbidden and set(CASES) <= forbidden
    prompts = [q["prompt"] for q in questions]
    assert len(prompts) == 6
    return sorted(forbidden), prompts


def _wait_idle(page) -> None:
    wait_for_app(page, TIMEOUT_MS)


@pytest.mark.skipif(chromium_path() is None, reason="Debian's chromium is not installed")
def test_reader_workflow_with_questions_practice_flag_and_review_leaks_nothing(
    tmp_path, monkeypatch
):
    workspace = tmp_path / "workspace"
    workspace.mkdir()
    monkeypatch.setenv("LIVSEG_WORKSPACE", str(workspace))
    monkeypatch.setenv("LIVSEG_BCRYPT_ROUNDS", "4")
    forbidden, prompts = _setup(workspace)
    env = {"LIVSEG_WORKSPACE": str(workspace), "LIVSEG_BCRYPT_ROUNDS": "4", "LIVSEG_THREADS": "1"}
    url, proc = start_streamlit(REPO / "app.py", env, timeout=90)
    html_pages: list[str] = []
    codes: list[str] = []
    try:
        with launch_browser() as browser:
            page = browser.new_page(viewport={"width": 1400, "height": 1400})
            page.set_default_timeout(TIMEOUT_MS)
            frames = collect_ws_frames(page)
            try:
                page.goto(url)
                page.get_by_role("button", name="Sign in").wait_for()
                sign_in(page, *READER, own_password="reader-flow-own-pw", timeout_ms=TIMEOUT_MS)
                # the practice item first, asked the same questions as a real item
                page.get_by_text("Practice item 1 of 1").first.wait_for()
                page.wait_for_function("() => (window.__viewerStats?.draws || []).length > 0")
                for item in ("practice", "real"):
                    _wait_idle(page)
                    html_pages.append(page.content())
                    value = 4 if item == "practice" else 3
                    choose_score(page, value)
                    _answer_all(page, prompts)
                    codes.append(submit_item(page, value))
                    if item == "practice":
                        page.get_by_text(re.compile(r"Item 1 of \d+")).first.wait_for()
                # flag the item now on screen (item 2)
                page.get_by_text(re.compile(r"Item 2 of \d+")).first.wait_for()
                _wait_idle(page)
                html_pages.append(page.content())
                page.get_by_text("Flag for the coordinator").click()
                _wait_idle(page)
                flagged = page.get_by_text(re.compile(r"Item [\w-]+ flagged: "))
                click_until(page.get_by_role("button", name="Flag the item"), flagged)
                codes.append(re.search(r"Item ([\w-]+) flagged", flagged.inner_text()).group(1))
                _wait_idle(page)
                html_pages.append(page.content())
                # review my answers: open the real item scored above
                open_review(page, codes[1], TIMEOUT_MS)
                html_pages.append(page.content())
            except Exception:
                save_failure(page, "e2e_workflow_failure")
                raise
    finally:
        stop_streamlit(proc)

    received = frames_text(frames)
    crawl = received + html_pages
    print(f"crawled {len(received)} websocket frames and {len(html_pages)} page HTMLs")
    assert len(received) > 20
    # positive control: the crawl sees the question prompts and the item codes
    for prompt in prompts:
        assert any(prompt[:40] in h for h in crawl), prompt
    for code in codes:
        assert any(code in h for h in crawl), code
    assert_no_leaks(crawl, forbidden)

    with sqlite3.connect(workspace / "livseg.db") as con:
        scored = con.execute(
            "select a.code, a.practice, s.value from scores s "
            "join assignments a on a.id = s.assignment_id order by a.position"
        ).fetchall()
        answers = con.execute(
            "select a.code, q.key, an.number, an.text from answers an "
            "join assignments a on a.id = an.assignment_id "
            "join study_questions q on q.id = an.question_id"
        ).fetchall()
        flags = con.execute(
            "select a.code, f.reason from item_flags f join assignments a on a.id = f.assignment_id"
        ).fetchall()
    assert [(c, bool(p), v) for c, p, v in scored] == [(codes[0], True, 4), (codes[1], False, 3)]
    by_item: dict[str, dict[str, tuple]] = {}
    for code, key, number, text in answers:
        by_item.setdefault(code, {})[key] = (number, text)
    keys = {"quality", "liver_quality", "tumour_quality", "acceptable", "missed_lesions", "remarks"}
    assert set(by_item) == {codes[0], codes[1]}
    assert set(by_item[codes[1]]) == keys
    real = by_item[codes[1]]
    assert real["quality"][0] == 3 and real["liver_quality"][0] == 2
    assert real["tumour_quality"][0] == 5 and real["missed_lesions"][0] == 1
    assert real["remarks"][1] == "fine edge"
    assert flags == [(codes[2], "image_problem")]


def _answer_all(page, prompts: list[str]) -> None:
    """Answer every question after the main score: liver 2, tumour 5, yes, 1 lesion, text."""
    liver, tumour, acceptable, missed, remarks = prompts[1:]
    page.get_by_role("radiogroup", name=liver).get_by_text("2 – ", exact=False).click()
    page.get_by_role("radiogroup", name=tumour).get_by_text("5 – ", exact=False).click()
    page.get_by_role("radiogroup", name=acceptable).get_by_text("Yes").click()
    number = page.get_by_label(missed)
    number.fill("1")
    number.press("Tab")
    text = page.get_by_label(f"{remarks} (optional)")
    text.fill("fine edge")
    text.press("Tab")
    _wait_idle(page)
