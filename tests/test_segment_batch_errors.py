"""``livseg segment`` with bad input: each bad case reported at the end, the batch goes on
and exits non-zero; folders it may not list and symbolic link loops get their own message
(issue 14 item 8)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from livseg.cli import main
from livseg.inference import run_cases
from livseg.io import LivSegInputError
from livseg.phantom import write_dataset


@pytest.fixture(scope="module")
def three_cases(tmp_path_factory):
    folder = tmp_path_factory.mktemp("cases")
    write_dataset(folder, 3, seed=7, size="small")
    return folder


def _with_bad_cases(three_cases, tmp_path) -> Path:
    """The three good cases plus a corrupt volume-3 and a link-loop volume-4."""
    folder = tmp_path / "cases"
    shutil.copytree(three_cases, folder)
    (folder / "manifest.json").unlink()
    good = (folder / "volume-1.nii.gz").read_bytes()
    (folder / "volume-3.nii.gz").write_bytes(good[: len(good) // 3])
    (folder / "volume-1.nii.gz").rename(folder / "volume-1.nii.gz")
    return folder


def test_a_folder_run_goes_on_after_a_bad_case_and_reports_each(three_cases, tmp_path, capsys):
    folder = _with_bad_cases(three_cases, tmp_path)
    (folder / "volume-0.nii.gz").rename(folder / "first.nii.gz")
    (folder / "volume-0.nii.gz").symlink_to(folder / "volume-0.nii.gz")  # a loop
    out = tmp_path / "runs"
    code = main(["segment", "--method", "classical", "--cases", str(folder), "--out", str(out)])
    err = capsys.readouterr().err
    assert code == 1
    # the good cases were all segmented, after and before the bad ones
    assert sorted(p.name for p in (out / "classical").glob("*.nii.gz")) == [
        "1.nii.gz",
        "2.nii.gz",
    ]
    assert "2 of 4 cases failed" in err
    assert "volume-3.nii.gz: truncated or corrupt" in err
    assert "volume-0.nii.gz" in err and "symbolic link loop" in err
    assert "Traceback" not in err


def test_run_cases_collects_failures_when_asked(three_cases, tmp_path):
    folder = _with_bad_cases(three_cases, tmp_path)
    with pytest.raises(LivSegInputError, match="truncated or corrupt"):
        run_cases(folder, tmp_path / "a", ["classical"])
    failures: list = []
    seen = []
    records = run_cases(
        folder,
        tmp_path / "b",
        ["classical"],
        progress=lambda d, t: seen.append((d, t)),
        failures=failures,
    )
    assert sorted(r.case for r in records) == ["0", "1", "2"]
    assert [(f.case_id, f.image.name) for f in failures] == [("3", "volume-3.nii.gz")]
    assert "truncated or corrupt" in failures[0].problem
    assert seen[-1] == (4, 4)


def test_a_folder_that_cannot_be_listed_is_a_clear_error(tmp_path, monkeypatch, capsys):
    # this machine's tests run as root, who may list everything: the refusal is simulated
    def refuse(self, pattern):
        raise PermissionError(13, "Permission denied", "/root/private")

    (tmp_path / "cases").mkdir()
    monkeypatch.setattr(Path, "rglob", refuse)
    out = tmp_path / "runs"
    code = main(["segment", "--method", "classical", "--cases", str(tmp_path / "cases"),
                 "--out", str(out)])  # fmt: skip
    err = capsys.readouterr().err
    assert code == 2
    assert "cannot list" in err and "Permission denied" in err and "/root/private" in err
    assert "Traceback" not in err


def test_one_image_behind_a_link_loop(tmp_path, capsys):
    loop = tmp_path / "ct.nii.gz"
    loop.symlink_to(loop)
    code = main(["segment", "--method", "classical", "--image", str(loop),
                 "--out", str(tmp_path / "o.nii.gz")])  # fmt: skip
    err = capsys.readouterr().err
    assert code == 2 and "symbolic link loop" in err and str(loop) in err
