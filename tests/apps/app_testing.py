"""Helpers for the app's AppTest tests: a seeded study shared by a test module, a fresh app
session signed in as someone, and everything a page holds as one string (for blinding checks).
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from tests.apps.study_fixture import COORDINATOR, FAKE_METHODS, FAKE_VERSIONS, seed_study

REPO = Path(__file__).resolve().parents[2]
APP = REPO / "app.py"
TIMEOUT_S = 60


@dataclass
class Seeded:
    """A seeded study: the template workspace, the demo files, readers' initial passwords."""

    template: Path
    files: object
    result: object
    coordinator_id: int

    @property
    def forbidden(self) -> list[str]:
        """Strings that identify a method: names, versions, run folders and files."""
        runs = Path(self.files.runs_dir)
        paths = [str(p) for p in runs.glob("*/*.nii.gz")] + [str(runs / m) for m in FAKE_METHODS]
        return [*FAKE_METHODS, *FAKE_VERSIONS.values(), *paths]


@pytest.fixture(scope="module")
def seeded(tmp_path_factory) -> Seeded:
    """One phantom study (2 cases x 2 stand-in methods x 3 readers) per test module."""
    template = tmp_path_factory.mktemp("seeded") / "workspace"
    template.mkdir()
    mp = pytest.MonkeyPatch()
    mp.setenv("LIVSEG_BCRYPT_ROUNDS", "4")
    mp.setenv("LIVSEG_WORKSPACE", str(template))
    try:
        coordinator, files, result = seed_study(template)
    finally:
        mp.undo()
    return Seeded(template, files, result, coordinator.id)


@pytest.fixture
def workspace(seeded, monkeypatch, tmp_path) -> Path:
    """This test's own copy of the seeded database (the case / run files stay shared)."""
    ws = tmp_path / "ws"
    ws.mkdir()
    for path in seeded.template.glob("livseg.db*"):  # with the WAL file
        shutil.copy2(path, ws / path.name)
    monkeypatch.setenv("LIVSEG_WORKSPACE", str(ws))
    monkeypatch.setenv("LIVSEG_BCRYPT_ROUNDS", "4")
    return ws


def signed_in_app(
    user_id: int | None, username: str = "", role: str = "", *, script=APP
) -> AppTest:
    """A new app session (run once), signed in as the given account when ``user_id`` is set."""
    from pages._shared import SignedInUser

    at = AppTest.from_file(str(script), default_timeout=TIMEOUT_S)
    if user_id is not None:
        at.session_state["signed_in_user"] = SignedInUser(user_id, username, role)
    return at.run()


def user_id(workspace: Path, username: str) -> int:
    """The id of ``username`` in the workspace's database (read with sqlite3, not the app)."""
    import sqlite3

    with sqlite3.connect(workspace / "livseg.db") as con:
        row = con.execute("select id from users where username = ?", (username,)).fetchone()
    assert row is not None, username
    return int(row[0])


def coordinator_app(workspace: Path, script=APP) -> AppTest:
    """The app signed in as the seeded coordinator."""
    return signed_in_app(
        user_id(workspace, COORDINATOR[0]), COORDINATOR[0], "coordinator", script=script
    )


def coordinator_page(workspace: Path, name: str) -> AppTest:
    """The app signed in as the seeded coordinator, switched to ``pages/<name>.py`` and run
    (asserting that the page raised nothing)."""
    at = coordinator_app(workspace)
    at.switch_page(f"pages/{name}.py").run()
    assert not at.exception, at.exception
    return at


def import_case(
    workspace: Path,
    name: str,
    image: tuple[str, bytes],
    labels: tuple[str, bytes] | None = None,
    *,
    replace: bool = False,
) -> AppTest:
    """The Models page after its upload form was sent: case ``name``, the CT as (file name,
    bytes), the labels likewise when given, "replace" ticked when asked."""
    at = coordinator_page(workspace, "models")
    [field] = [t for t in at.text_input if t.label == "Case name"]
    image_up, labels_up = at.get("file_uploader")
    field.input(name)
    image_up.upload(*image)
    if labels is not None:
        labels_up.upload(*labels)
    if replace:
        at.checkbox(key="upload_replace").check()
    [b for b in at.button if b.label == "Import the case"][0].click().run()
    return at


def start_runs(workspace: Path, methods: list[str], cases: list[str]) -> AppTest:
    """The Models page after choosing ``methods`` and ``cases`` and pressing Run."""
    at = coordinator_page(workspace, "models")
    [method_box] = [m for m in at.multiselect if m.label == "Methods"]
    [case_box] = [m for m in at.multiselect if m.label == "Cases"]
    method_box.set_value(methods)
    case_box.set_value(cases)
    [b for b in at.button if b.label == "Run"][0].click().run()
    return at


def reader_app(workspace: Path, username: str = "reader1", script=APP) -> AppTest:
    """The app signed in as a reader (who has already chosen her own password)."""
    return signed_in_app(user_id(workspace, username), username, "reader", script=script)


def texts(at: AppTest, kind: str) -> list[str]:
    """The values of every element of ``kind`` (e.g. "error", "success", "title")."""
    return [str(el.value) for el in at.get(kind)]


def page_dump(at: AppTest) -> str:
    """Every element's protobuf (what the browser would receive) plus the session state."""
    parts: list[str] = []

    def walk(node) -> None:
        proto = getattr(node, "proto", None)
        if proto is not None:
            parts.append(str(proto))
        children = getattr(node, "children", None)
        if isinstance(children, dict):
            for child in children.values():
                walk(child)

    walk(at._tree)
    for key, value in at.session_state.to_dict().items():
        parts.append(f"{key}={value!r}")
    return "\n".join(parts)
