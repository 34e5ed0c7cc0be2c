"""Plug-in methods: a tiny package built and pip-installed inside the test (into a target
folder put on sys.path) declares a ``livseg.methods`` entry point that wraps a TorchScript
model; it must appear in the registry and run through ``segment --method``. The expected
labels are computed here with numpy from the same threshold."""

from __future__ import annotations

import importlib
import subprocess
import sys
import textwrap

import nibabel as nib
import numpy as np
import pytest

import livseg.methods as registry
from livseg.cli import main
from livseg.methods import plugins

PYPROJECT = """
[build-system]
requires = ["setuptools"]
build-backend = "setuptools.build_meta"

[project]
name = "livseg-plugin-demo"
version = "1.2.3"

[tool.setuptools]
packages = ["livseg_plugin_demo"]

[tool.setuptools.package-data]
livseg_plugin_demo = ["*.pt"]

[project.entry-points."livseg.methods"]
threshold_ts = "livseg_plugin_demo:ThresholdMethod"
broken_one = "livseg_plugin_demo_missing:Nothing"
classical = "livseg_plugin_demo:ThresholdMethod"
"""

MODULE = '''
"""A LivSeg plug-in: a TorchScript model that calls liver everything above 50 HU."""
from pathlib import Path

import numpy as np
import torch


class ThresholdMethod:
    title = "TorchScript threshold"
    version = "1.2.3"

    def __init__(self, device="auto", threads=None):
        self.device = "cpu"
        self.model = torch.jit.load(str(Path(__file__).with_name("model.pt")))
        self.params = {"threshold_hu": 50.0}

    def segment(self, volume):
        with torch.no_grad():
            out = self.model(torch.from_numpy(np.ascontiguousarray(volume.array)))
        return out.numpy().astype(np.uint8)
'''


@pytest.fixture(scope="module")
def installed(tmp_path_factory):
    import torch

    class Threshold(torch.nn.Module):
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return (x > 50.0).to(torch.uint8)

    src = tmp_path_factory.mktemp("plugin_src")
    pkg = src / "livseg_plugin_demo"
    pkg.mkdir()
    (src / "pyproject.toml").write_text(PYPROJECT)
    (pkg / "__init__.py").write_text(textwrap.dedent(MODULE))
    torch.jit.script(Threshold()).save(str(pkg / "model.pt"))
    target = tmp_path_factory.mktemp("plugin_site")
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-build-isolation",
         "--no-index", "--target", str(target), str(src)],
        check=True, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    sys.path.insert(0, str(target))
    importlib.invalidate_caches()
    with pytest.warns(UserWarning) as caught:
        names = plugins.refresh(list(registry._REGISTRY), registry.METHODS, registry.TITLES)
    yield names, [str(w.message) for w in caught]
    sys.path.remove(str(target))
    importlib.invalidate_caches()
    plugins.refresh(list(registry._REGISTRY), registry.METHODS, registry.TITLES)
    registry.clear_cache()


def test_plugin_appears_in_the_registry(installed):
    names, messages = installed
    assert names == ["threshold_ts"]
    assert registry.METHODS[-1] == "threshold_ts" and registry.METHODS[0] == "classical"
    assert registry.TITLES["threshold_ts"] == "TorchScript threshold"
    assert registry.TITLES["classical"] == "Threshold + region growing (control)"
    # the broken entry point and the one shadowing a built-in are skipped with a reason
    assert any("broken_one" in m and "No module named" in m for m in messages)
    assert any("'classical'" in m and "built-in" in m for m in messages)
    method = registry.get_method("threshold_ts")
    assert (method.name, method.title, method.version) == (
        "threshold_ts",
        "TorchScript threshold",
        "1.2.3",
    )


def test_plugin_segments_through_the_cli(installed, tmp_path, capsys):
    rng = np.random.default_rng(2)
    image = rng.normal(40, 30, size=(12, 10, 6)).astype(np.float32)
    affine = np.diag([-1.0, 1.0, 2.0, 1.0])
    nib.save(nib.Nifti1Image(image, affine), str(tmp_path / "ct.nii.gz"))
    out = tmp_path / "labels.nii.gz"
    code = main(
        [
            "segment",
            "--image",
            str(tmp_path / "ct.nii.gz"),
            "--method",
            "threshold_ts",
            "--out",
            str(out),
        ]
    )
    assert code == 0, capsys.readouterr().err
    labels = np.asarray(nib.load(str(out)).dataobj)
    np.testing.assert_array_equal(labels, (image > 50.0).astype(np.uint8))
    assert 0 < labels.sum() < labels.size


def test_plugin_output_is_checked(installed):
    from livseg.volume import Volume

    method = registry.get_method("threshold_ts")
    method._impl.segment = lambda volume: np.full(volume.shape, 7, dtype=np.uint8)
    vol = Volume(np.zeros((4, 4, 4), np.float32), (1.0, 1.0, 1.0), np.eye(4))
    with pytest.raises(RuntimeError, match=r"label values \[7\] outside 0/1/2"):
        method.segment(vol)
    registry.clear_cache()


@pytest.fixture
def sqlite_engine(monkeypatch):
    from tests.db_support import open_test_engine

    yield from open_test_engine("sqlite", monkeypatch)


def test_plugin_method_is_stored_with_kind_plugin(installed, sqlite_engine):
    from sqlalchemy import text

    from db import catalog
    from db.access import SYSTEM
    from db.engine import session_scope

    with session_scope(sqlite_engine) as s:
        catalog.register_method(s, SYSTEM, "threshold_ts")
        catalog.register_method(s, SYSTEM, "classical")
    with sqlite_engine.connect() as conn:
        kinds = dict(conn.execute(text("SELECT name, kind FROM methods")).all())
    assert kinds == {"threshold_ts": "plugin", "classical": "builtin"}


def test_models_page_lists_the_plugin_as_ready(installed, tmp_path, monkeypatch):
    from tests.apps.app_testing import coordinator_app
    from tests.apps.study_fixture import seed_study

    workspace = tmp_path / "ws"
    workspace.mkdir()
    monkeypatch.setenv("LIVSEG_WORKSPACE", str(workspace))
    monkeypatch.setenv("LIVSEG_BCRYPT_ROUNDS", "4")
    seed_study(workspace)
    at = coordinator_app(workspace)
    at.switch_page("pages/models.py").run()
    assert not at.exception, at.exception
    [table] = [d.value for d in at.dataframe if "status" in getattr(d.value, "columns", [])]
    row = table.set_index("method").loc["threshold_ts"]
    assert (row["title"], row["status"]) == ("TorchScript threshold", "ready")
    chooser = [m for m in at.multiselect if m.label == "Methods"][0]
    assert any(option.startswith("threshold_ts") for option in chooser.options)
