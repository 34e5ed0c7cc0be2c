"""End to end in Chromium: another program's results enter a blinded study.

Set-up without the browser: phantom cases registered, two folders of "external" predictions
imported with ``python -m db import-runs`` (a TotalSegmentator-style multi-label map mapped
with ``--label liver=5``, and a binary mask), a study of the two external methods opened for
one reader. In the browser the reader signs in, reads and scores two items; every websocket
frame and page HTML her browser receives is searched for the external methods' names,
titles, versions and every path of theirs (source folders, stored predictions, run folders).
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest

from tests.browser_utils import (
    assert_no_leaks,
    chromium_path,
    collect_ws_frames,
    frames_text,
    launch_browser,
    save_failure,
    sign_in,
    start_streamlit,
    stop_streamlit,
    wait_for_app,
)

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

REPO = Path(__file__).resolve().parents[1]
TIMEOUT_MS = 90_000
READER = ("reader_ext", "reader-ext-pass-1")
EXTERNAL = {
    "secret_ext_alpha": ("Alpha Vendor Title", "alpha-version-5a7e91", ["--label", "liver=5"]),
    "secret_ext_beta": ("Beta Vendor Title", "beta-version-c3d2b1", []),
}


def _setup(workspace: Path, tmp_path: Path) -> list[str]:
    """Cases, imported external runs and an open study; returns the forbidden strings."""
    from db import auth, catalog, studies
    from db.engine import get_engine, init_db, session_scope
    from livseg.io import save_labels, save_volume
    from livseg.phantom import generate_case

    url = f"sqlite:///{workspace / 'livseg.db'}"
    engine = get_engine(url)
    init_db(engine)
    cases_dir = workspace / "cases"
    cases_dir.mkdir(parents=True)
    sources = {name: tmp_path / f"EXTSRC_{name}" for name in EXTERNAL}
    for folder in sources.values():
        folder.mkdir()
    names = []
    with session_scope(engine) as s:
        coordinator = auth.create_first_coordinator(s, "coord", "coordinator-pass-1")
        auth.create_reader(s, coordinator, READER[0], password=READER[1])
        for i in range(2):
            case = generate_case(40 + i, size="small")
            name = f"ext-case-{i}"
            image = save_volume(case.volume, cases_dir / f"volume-{i}.nii.gz")
            labels = save_labels(case.labels, case.volume, cases_dir / f"segmentation-{i}.nii.gz")
            catalog.register_case(s, coordinator, name, image, labels)
            names.append(name)
            ref = np.asarray(nib.load(str(labels)).dataobj)
            affine = nib.load(str(labels)).affine
            total_seg = np.where(ref > 0, 5, 0).astype(np.uint8)
            total_seg[:, :, : ref.shape[2] // 4] = 0
            nib.save(
                nib.Nifti1Image(total_seg, affine),
                str(sources["secret_ext_alpha"] / f"{name}.nii.gz"),
            )
            nib.save(
                nib.Nifti1Image((ref > 0).astype(np.uint8), affine),
                str(sources["secret_ext_beta"] / f"prediction-{name}.nii.gz"),
            )
    for method, (title, version, label_args) in EXTERNAL.items():
        for name in names:
            side = next(sources[method].glob(f"*{name}.nii.gz"))
            side.with_name(side.name.replace(".nii.gz", ".json")).write_text(
                json.dumps({"seconds": 3.5, "version": version})
            )
        done = subprocess.run(
            [sys.executable, "-m", "db", "--url", url, "import-runs", "--method", method, "--title", title,
             "--dir", str(sources[method]), *label_args],
            cwd=REPO, capture_output=True, text=True, timeout=300,
            env={**os.environ, "LIVSEG_WORKSPACE": str(workspace)},
        )  # fmt: skip
        assert done.returncode == 0, done.stdout + done.stderr
        assert f"{method}: 2 runs imported" in done.stdout
    with session_scope(engine) as s:
        study = studies.create_study(
            s, coordinator, "Blinded comparison", cases=names, methods=list(EXTERNAL),
            readers=[READER[0]], seed=7,
        )  # fmt: skip
        studies.open_study(s, coordinator, study)
        runs = catalog.list_runs(s, coordinator)
    forbidden = set()
    for method, (title, version, _) in EXTERNAL.items():
        forbidden |= {method, title, version, str(sources[method]), sources[method].name}
        forbidden.add(str(workspace / "runs" / method))
    forbidden |= {str(path) for path in runs["prediction_path"]}
    assert len(runs) == 4
    return sorted(forbidden)


def _wait_idle(page) -> None:
    wait_for_app(page, TIMEOUT_MS)


@pytest.mark.skipif(chromium_path() is None, reason="Debian's chromium is not installed")
def test_external_methods_in_a_blinded_study(tmp_path, monkeypatch):
    workspace = tmp_path / "workspace"
    workspace.mkdir()
    monkeypatch.setenv("LIVSEG_WORKSPACE", str(workspace))
    monkeypatch.setenv("LIVSEG_BCRYPT_ROUNDS", "4")
    forbidden = _setup(workspace, tmp_path)
    env = {"LIVSEG_WORKSPACE": str(workspace), "LIVSEG_BCRYPT_ROUNDS": "4", "LIVSEG_THREADS": "1"}
    url, proc = start_streamlit(REPO / "app.py", env, timeout=90)
    try:
        with launch_browser() as browser:
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            page.set_default_timeout(TIMEOUT_MS)
            frames = collect_ws_frames(page)
            try:
                page.goto(url)
                page.get_by_role("button", name="Sign in").wait_for()
                sign_in(page, *READER, own_password="reader-ext-own-pw", timeout_ms=TIMEOUT_MS)
                text = page.get_by_text(re.compile(r"Item 1 of \d+"))
                text.wait_for()
                total = int(re.search(r"of (\d+)", text.inner_text()).group(1))
                assert total == 4  # 2 cases x 2 external methods
                page.wait_for_function("() => (window.__viewerStats?.draws || []).length > 0")
                html_pages = []
                for k in (1, 2):
                    page.get_by_text(f"Item {k} of {total}").wait_for()
                    _wait_idle(page)
                    html_pages.append(page.content())
                    page.get_by_role("button", name=re.compile(r"^4 – ")).click()
                    page.get_by_text("Your score: 4").wait_for()
                    page.get_by_role("button", name=re.compile("^Submit")).click()
                    page.get_by_text(re.compile(r"Saved: item [\w-]+ scored")).wait_for()
                page.get_by_text(f"Item 3 of {total}").wait_for()
                _wait_idle(page)
                html_pages.append(page.content())
                received = frames_text(frames)
                assert len(received) > 10
                # positive control: the crawl sees what the page shows (the study's question)
                from db.studies import DEFAULT_QUESTION

                assert any(DEFAULT_QUESTION[:40] in h for h in received)
                assert_no_leaks(received + html_pages, forbidden)
            except Exception:
                save_failure(page, "e2e_external_failure")
                raise
    finally:
        stop_streamlit(proc)
