"""``python -m db demo`` (1 small phantom case, the classical method): it honours
LIVSEG_DEMO_METHODS like ``python -m livseg demo`` (issue 15 item 4), prints the exact command
that creates the missing coordinator (issue 13 defect 9), refuses a second demo without
--another and leaves the first one's files alone (defect 3), and shows a phase label from
its first moment (issue 10)."""

from __future__ import annotations

import argparse
import hashlib
import io
import shlex
import sqlite3

import pytest

from db.__main__ import main as db_main
from livseg.demo import DemoConfig, DemoError


@pytest.fixture
def demo_env(tmp_path, monkeypatch):
    monkeypatch.setenv("LIVSEG_WORKSPACE", str(tmp_path))
    monkeypatch.setenv("LIVSEG_BCRYPT_ROUNDS", "4")
    monkeypatch.setenv("LIVSEG_DEMO_METHODS", "classical")
    monkeypatch.setenv("LIVSEG_THREADS", "1")
    return tmp_path, f"sqlite:///{tmp_path / 'demo.sqlite'}"


def _digest(folder) -> dict[str, str]:
    return {
        str(p): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


def test_both_command_lines_resolve_the_demo_methods_the_same_way(monkeypatch):
    from livseg.cli import build_parser as livseg_parser
    from livseg.demo import config_from_args

    monkeypatch.setenv("LIVSEG_DEMO_METHODS", " classical , unet2d ")
    from db.__main__ import build_parser as db_parser

    for extra in ([], ["--methods", "unet3d"], ["--methods", "all"]):
        db_args = db_parser().parse_args(["demo", *extra])
        livseg_args = livseg_parser().parse_args(["demo", *extra])
        assert config_from_args(db_args) == config_from_args(livseg_args)
    default = config_from_args(db_parser().parse_args(["demo"]))
    assert default.methods == ("classical", "unet2d") == DemoConfig.from_env().methods
    assert config_from_args(db_parser().parse_args(["demo", "--methods", "all"])).methods is None


def test_db_demo_honours_the_method_choice_and_says_how_to_add_a_coordinator(
    demo_env, capsys, monkeypatch
):
    workspace, url = demo_env
    assert db_main(["--url", url, "demo", "--cases", "1", "--size", "small"]) == 0
    out = capsys.readouterr().out
    assert "1 cases x 1 methods (classical)" in out
    assert "1 practice case, read first by each reader (not analysed)" in out
    with sqlite3.connect(workspace / "demo.sqlite") as con:
        assert con.execute("select name from methods").fetchall() == [("classical",)]
        # issue 13: one practice case beside the study's case, read first by every reader
        assert con.execute("select name from cases order by name").fetchall() == [
            ("demo-0",),
            ("demo-1",),
        ]
        orders = con.execute(
            "select u.username, a.position, a.practice, c.name from assignments a "
            "join users u on u.id = a.reader_id join items i on i.id = a.item_id "
            "join runs r on r.id = i.run_id join cases c on c.id = r.case_id "
            "order by u.username, a.position"
        ).fetchall()
        assert orders == [
            (f"reader{k}", pos, practice, case)
            for k in (1, 2, 3)
            for pos, practice, case in ((0, 1, "demo-1"), (1, 0, "demo-0"))
        ]
        assert con.execute("select count(*) from users where role = 'coordinator'").fetchone() == (
            0,
        )

    # the printed command, run as printed (with a name and a password), creates her
    [line] = [s.strip() for s in out.splitlines() if "create-coordinator" in s]
    words = shlex.split(line)
    assert words[:3] == ["python", "-m", "db"]
    words = [("boss" if w == "<name>" else w) for w in words[3:]]
    monkeypatch.setattr("sys.stdin", io.StringIO("a long coordinator passphrase 42\n"))
    assert db_main([*words, "--password-stdin"]) == 0
    with sqlite3.connect(workspace / "demo.sqlite") as con:
        assert con.execute("select username from users where role = 'coordinator'").fetchall() == [
            ("boss",)
        ]

    # a second demo is refused without --another, and the first one's files stay as they are
    before = _digest(workspace / "demo")
    assert db_main(["--url", url, "demo", "--cases", "1", "--size", "small"]) == 1
    err = capsys.readouterr().err
    assert "A demo is already set up: 'Demo study' (open)" in err and "--another" in err
    assert _digest(workspace / "demo") == before
    assert db_main(["--url", url, "demo", "--cases", "1", "--size", "small", "--another"]) == 0
    assert "study 'Demo study 2' is open" in capsys.readouterr().out
    assert _digest(workspace / "demo") == before
    with sqlite3.connect(workspace / "demo.sqlite") as con:
        studies = con.execute("select name, status from studies order by id").fetchall()
    assert studies == [("Demo study", "open"), ("Demo study 2", "open")]


def test_the_demo_names_its_phase_before_loading_the_methods(demo_env, monkeypatch):
    """Loading the methods takes seconds (torch, weights): the bar must say so meanwhile."""
    from db.access import SYSTEM
    from db.demo import create_demo
    from db.engine import get_engine, init_db, session_scope

    _, url = demo_env
    events: list[tuple[float, str]] = []
    seen_when_loading: list[int] = []

    def loading_methods(wanted=None):
        seen_when_loading.append(len(events))
        raise DemoError("stop here")

    monkeypatch.setattr("livseg.demo.available_methods", loading_methods)
    engine = get_engine(url)
    init_db(engine)
    with session_scope(engine) as session, pytest.raises(DemoError, match="stop here"):
        create_demo(
            session,
            SYSTEM,
            DemoConfig(n_cases=1, size="small"),
            progress=lambda f, text: events.append((f, text)),
        )
    assert seen_when_loading and seen_when_loading[0] >= 1
    fraction, label = events[seen_when_loading[0] - 1]
    assert fraction == 0.0 and label == "Loading the segmentation methods"


def test_demo_arguments_refuse_bad_values():
    from livseg.demo import add_demo_arguments, config_from_args

    parser = argparse.ArgumentParser()
    add_demo_arguments(parser)
    with pytest.raises(ValueError, match="number of cases must be an integer 1-50"):
        config_from_args(parser.parse_args(["--cases", "0"]))
