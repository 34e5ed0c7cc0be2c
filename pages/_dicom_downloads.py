"""Cases page: DICOM-SEG downloads of a DICOM case's reference and each method's result.

Not a page itself. Shown only for cases whose image is a DICOM series; each file is made
when its button is clicked (``livseg.dicom.seg.segmentation_bytes``: segments "Liver" and
"Liver tumour", referencing the case's series; no patient identity). Coordinator only.
"""

from __future__ import annotations

import streamlit as st


@st.cache_resource(show_spinner=False, max_entries=4)
def _series(image_path: str):
    from livseg.io import load_volume

    return load_volume(image_path)


def _maker(image_path: str, labels_path: str, name: str, manual: bool):
    def make() -> bytes:
        from livseg.dicom.seg import segmentation_bytes
        from livseg.io import load_labels

        volume = _series(image_path)
        labels = load_labels(labels_path, like=volume)
        return segmentation_bytes(labels, volume, name, "", manual=manual)

    return make


def dicom_seg_downloads(case_name: str, image_path: str, panels: dict[str, str]) -> None:
    """One DICOM-SEG download button per panel (reference, methods) of a DICOM case."""
    from livseg.io import is_dicom_input

    if not panels or not is_dicom_input(image_path):
        return
    st.markdown("**DICOM-SEG downloads** (on the case's DICOM series)")
    columns = st.columns(min(len(panels), 4))
    for i, (title, path) in enumerate(panels.items()):
        manual = title == "Reference"
        columns[i % len(columns)].download_button(
            f"{title} (.dcm)",
            data=_maker(image_path, path, "reference" if manual else title, manual),
            file_name=f"{case_name}-{'reference' if manual else title}-seg.dcm",
            mime="application/dicom",
            key=f"dicom_seg_{case_name}_{i}",
            on_click="ignore",
        )
