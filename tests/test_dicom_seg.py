"""DICOM-SEG out and in, checked by reading back with pydicom and highdicom (independent of
livseg.dicom.seg), and the CLI on the real series: segment --out X.dcm / X.nii.gz and
evaluate --pred X.dcm give the same liver DSC as MedPy on the decoded masks."""

from __future__ import annotations

import json
from pathlib import Path

import highdicom as hd
import nibabel as nib
import numpy as np
import pydicom
import pytest
from medpy.metric import binary as medpy_binary

from livseg import evaluation
from livseg.cli import main
from livseg.dicom.seg import write_segmentation
from livseg.io import LivSegInputError, load_labels, load_volume
from tests.dicom_support import IDENTITY, write_series

DATA = Path(__file__).parent / "data" / "abdomen-ct-dicom"
SEG_SOP_CLASS = "1.2.840.10008.5.1.4.1.1.66.4"


@pytest.fixture
def series(tmp_path):
    """A 32 x 24 x 6 axial series (uncompressed) and a label map with liver and tumour."""
    rng = np.random.default_rng(0)
    native = rng.integers(-100, 200, size=(32, 24, 6)).astype(np.float32)
    paths = write_series(tmp_path / "series", native, slice_step=3.0)
    vol = load_volume(tmp_path / "series")
    labels = np.zeros(vol.shape, dtype=np.uint8)
    labels[5:20, 4:18, 1:5] = 1
    labels[8:12, 6:10, 2:4] = 2
    return vol, labels, paths


def test_segmentation_reads_back_with_pydicom(tmp_path, series):
    vol, labels, paths = series
    out = write_segmentation(labels, vol, tmp_path / "seg.dcm", "unet2d", "abc123def456")
    ds = pydicom.dcmread(out)
    assert ds.SOPClassUID == SEG_SOP_CLASS
    assert ds.SegmentationType == "BINARY"
    src = [pydicom.dcmread(p) for p in paths]
    assert ds.StudyInstanceUID == src[0].StudyInstanceUID
    assert ds.FrameOfReferenceUID == src[0].FrameOfReferenceUID
    assert ds.ReferencedSeriesSequence[0].SeriesInstanceUID == src[0].SeriesInstanceUID
    referenced = {
        i.ReferencedSOPInstanceUID
        for i in ds.ReferencedSeriesSequence[0].ReferencedInstanceSequence
    }
    assert referenced == {s.SOPInstanceUID for s in src}
    segs = {int(s.SegmentNumber): s for s in ds.SegmentSequence}
    assert segs[1].SegmentLabel == "Liver"
    assert segs[1].SegmentedPropertyTypeCodeSequence[0].CodeValue == "10200004"
    assert segs[1].SegmentedPropertyTypeCodeSequence[0].CodingSchemeDesignator == "SCT"
    assert segs[2].SegmentLabel == "Liver tumour"
    assert segs[2].SegmentedPropertyTypeCodeSequence[0].CodeValue == "108369006"
    algo = segs[1].SegmentationAlgorithmIdentificationSequence[0]
    assert (algo.AlgorithmName, algo.AlgorithmVersion) == ("unet2d", "abc123def456")
    # every source slice has one frame per segment, at the source's position
    source_positions = sorted(tuple(float(v) for v in s.ImagePositionPatient) for s in src)
    for number in (1, 2):
        frames = [
            tuple(float(v) for v in f.PlanePositionSequence[0].ImagePositionPatient)
            for f in ds.PerFrameFunctionalGroupsSequence
            if int(f.SegmentIdentificationSequence[0].ReferencedSegmentNumber) == number
        ]
        assert sorted(frames) == pytest.approx(source_positions)
    # no patient identity in the file
    raw = out.read_bytes()
    for value in IDENTITY.values():
        assert value.encode() not in raw


def test_segmentation_masks_per_source_slice_with_highdicom(tmp_path, series):
    vol, labels, paths = series
    out = write_segmentation(labels, vol, tmp_path / "seg.dcm", "classical", "v1")
    seg = hd.seg.segread(out)
    src = [pydicom.dcmread(p) for p in paths]
    uids = [s.SOPInstanceUID for s in src]
    masks = seg.get_pixels_by_source_instance(source_sop_instance_uids=uids, segment_numbers=[1, 2])
    # axial series: canonical y runs against the DICOM rows, slice k is file k (written bottom up)
    for k in range(len(src)):
        expected = labels[:, ::-1, k].T
        np.testing.assert_array_equal(masks[k, :, :, 0], expected == 1)
        np.testing.assert_array_equal(masks[k, :, :, 1], expected == 2)


def test_segmentation_reads_back_as_labels(tmp_path, series):
    vol, labels, _ = series
    out = write_segmentation(labels, vol, tmp_path / "seg.dcm", "classical", "v1")
    np.testing.assert_array_equal(load_labels(out, like=vol), labels)
    alone = evaluation.load_label_map(out)
    np.testing.assert_array_equal(alone.labels, labels)
    np.testing.assert_allclose(alone.affine, vol.affine, atol=1e-4)


def test_segmentation_needs_a_dicom_image(tmp_path):
    path = tmp_path / "img.nii.gz"
    nib.save(nib.Nifti1Image(np.zeros((8, 8, 4), np.int16), np.eye(4)), str(path))
    vol = load_volume(path)
    with pytest.raises(LivSegInputError, match="needs a DICOM series"):
        write_segmentation(np.zeros(vol.shape, np.uint8), vol, tmp_path / "x.dcm", "m", "1")


def test_not_a_segmentation_is_refused_as_labels(tmp_path, series):
    vol, _, paths = series
    ct = tmp_path / "ct.dcm"
    ct.write_bytes(paths[0].read_bytes())
    with pytest.raises(LivSegInputError, match="not a DICOM Segmentation"):
        load_labels(ct, like=vol)


def test_cli_real_series_dcm_and_nifti_give_the_same_liver_dsc(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("LIVSEG_THREADS", "1")
    image, mask = DATA / "series", DATA / "liver-mask.nii.gz"
    for out in ("x.dcm", "x.nii.gz"):
        code = main(
            [
                "segment",
                "--image",
                str(image),
                "--method",
                "classical",
                "--out",
                str(tmp_path / out),
            ]
        )
        assert code == 0
    capsys.readouterr()
    dsc = {}
    for out in ("x.dcm", "x.nii.gz"):
        assert main(["evaluate", "--pred", str(tmp_path / out), "--ref", str(mask), "--json"]) == 0
        dsc[out] = json.loads(capsys.readouterr().out)["liver"]["dsc"]
    # independent: highdicom's decoding of the SEG's liver (+ tumour) frames, on the mask's grid
    seg = hd.seg.segread(tmp_path / "x.dcm")
    assert (
        seg.ReferencedSeriesSequence[0].SeriesInstanceUID
        == load_volume(image).source["uids"]["SeriesInstanceUID"]
    )
    ref = np.asarray(nib.load(str(mask)).dataobj) > 0
    files = sorted(image.iterdir())
    src = {
        pydicom.dcmread(f, stop_before_pixels=True).SOPInstanceUID
        or pydicom.dcmread(f).file_meta.MediaStorageSOPInstanceUID: f
        for f in files
    }
    z = {
        u: float(pydicom.dcmread(f, stop_before_pixels=True).ImagePositionPatient[2])
        for u, f in src.items()
    }
    order = sorted(src, key=lambda u: z[u])  # canonical z: bottom up
    masks = seg.get_pixels_by_source_instance(
        source_sop_instance_uids=order, segment_numbers=[1, 2]
    )
    pred = np.stack([masks[k].any(axis=-1).T[:, ::-1] for k in range(len(order))], axis=-1)
    expected = float(medpy_binary.dc(pred, ref))
    assert dsc["x.dcm"] == pytest.approx(expected, abs=1e-9)
    assert dsc["x.nii.gz"] == pytest.approx(expected, abs=1e-9)
    assert expected > 0.5  # the control method finds the liver on a real scan
