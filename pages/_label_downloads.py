"""Cases page: downloads of a case's reference and each method's result.

Not a page itself. Every label map as the NIfTI file LivSeg keeps (on the image's own grid);
for a case whose image is a DICOM series also as a DICOM-SEG, made when its button is
clicked (``livseg.dicom.seg.segmentation_bytes``: segments "Liver" and "Liver tumour",
referencing the case's series; no patient identity). Coordinator only.
"""

from __future__ import annotations

from pathlib import Path

import streamlit as st


@st.cache_resource(show_spinner=False, max_entries=4)
def _series(image_path: str):
    from livseg.io import load_volume

    return load_volume(image_path)


def _maker(image_path: str, labels_path: str, name: str, manual: bool):
    """A no-argument callable returning the DICOM-SEG bytes of one label map."""

    def make() -> bytes:
        from livseg.dicom.seg import segmentation_bytes
        from livseg.io import load_labels

        volume = _series(image_path)
        labels = load_labels(labels_path, like=volume)
        return segmentation_bytes(labels, volume, name, "", manual=manual)

    return make


def _reader(path: str):
    return lambda: Path(path).read_bytes()


def label_downloads(case_name: str, image_path: str, panels: dict[str, str]) -> None:
    """Download buttons per panel (reference, methods): NIfTI, and DICOM-SEG for DICOM cases."""
    from livseg.io import is_dicom_input

    if not panels:
        return
    dicom = is_dicom_input(image_path)
    st.markdown("**Downloads**" + (" (DICOM-SEG on the case's DICOM series)" if dicom else ""))
    columns = st.columns(min(len(panels), 4))
    for i, (title, path) in enumerate(panels.items()):
        manual = title == "Reference"
        label = "reference" if manual else title
        column = columns[i % len(columns)]
        suffix = ".nii" if path.lower().endswith(".nii") else ".nii.gz"
        column.download_button(
            f"{title} ({suffix})",
            data=_reader(path),
            file_name=f"{case_name}-{label}{suffix}",
            mime="application/gzip" if suffix == ".nii.gz" else "application/octet-stream",
            key=f"nifti_{case_name}_{i}",
            on_click="ignore",
        )
        if dicom:
            column.download_button(
                f"{title} (.dcm)",
                data=_maker(image_path, path, label, manual),
                file_name=f"{case_name}-{label}-seg.dcm",
                mime="application/dicom",
                key=f"dicom_seg_{case_name}_{i}",
                on_click="ignore",
            )
