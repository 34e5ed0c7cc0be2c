"""Defect 8 of issue 13: an upload's error names the file the coordinator uploaded, never
the server's folder or the internal file names the page stores it under (AppTest)."""

from __future__ import annotations

import nibabel as nib
import numpy as np
import pytest

from tests.apps import app_testing
from tests.apps.app_testing import import_case, texts

seeded, workspace = app_testing.seeded, app_testing.workspace  # fixtures

INTERNAL = ("volume.nii", "segmentation.nii", "/imported/", "/")


def _nifti_bytes(array: np.ndarray, dtype=np.int16) -> bytes:
    return nib.Nifti1Image(array.astype(dtype), np.diag([0.8, 0.8, 2.5, 1.0])).to_bytes()


def _upload(workspace, name: str, image: tuple[str, bytes], labels=None) -> str:
    at = import_case(workspace, name, image, labels)
    assert not at.exception
    [error] = texts(at, "error")
    return error


@pytest.mark.parametrize("upload_name", ["my scan (arterial).nii.gz", "ct_0042.nii.gz"])
def test_a_corrupt_ct_is_named_as_uploaded(workspace, upload_name):
    error = _upload(workspace, "bad-ct", (upload_name, b"\x1f\x8b this is not gzip"))
    assert error.startswith("Not imported:")
    assert f"'{upload_name}'" in error
    for internal in (*INTERNAL, str(workspace)):
        assert internal not in error.replace(upload_name, ""), error


def test_bad_label_values_name_the_uploaded_label_file(workspace):
    ct = np.full((16, 16, 8), 40, np.int16)
    seg = np.zeros((16, 16, 8), np.uint8)
    seg[0, 0, 0] = 7
    error = _upload(
        workspace,
        "bad-labels",
        ("patient_ct.nii", _nifti_bytes(ct)),
        ("patient_seg_v2.nii", _nifti_bytes(seg, np.uint8)),
    )
    assert "'patient_seg_v2.nii'" in error and "7" in error
    for internal in (*INTERNAL, str(workspace)):
        assert internal not in error.replace("patient_seg_v2.nii", ""), error
