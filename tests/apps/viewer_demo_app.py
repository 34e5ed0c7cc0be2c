"""Throw-away Streamlit script for the viewer's browser tests and bench (not part of the app).

Environment: LSV_SHAPE="X,Y,Z" (default 256,256,40), LSV_PANELS (label maps, default 1),
LSV_TITLE (opaque title), LSV_SPACING="sx,sy,sz" mm (default 0.75,0.75,5),
LSV_PHANTOM=1 to use livseg.phantom.generate_case when it exists.
"""

from __future__ import annotations

import os

import numpy as np
import streamlit as st

from components.slice_viewer import slice_viewer
from livseg.viewer_payload import build_payload


def synthetic_case(shape: tuple[int, int, int], seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Noisy abdomen-like CT (HU, float32) and labels (1 liver, 2 tumour) on (x, y, z)."""
    rng = np.random.default_rng(seed)
    nx, ny, nz = shape
    x = np.linspace(-1, 1, nx, dtype=np.float32)[:, None, None]
    y = np.linspace(-1, 1, ny, dtype=np.float32)[None, :, None]
    z = np.linspace(-1, 1, nz, dtype=np.float32)[None, None, :]
    body = (x / 0.9) ** 2 + (y / 0.7) ** 2 < 1
    # liver on the patient's right (low x) and anterior-ish, shrinking towards the feet
    liver = ((x + 0.35) / 0.4) ** 2 + ((y - 0.05) / 0.35) ** 2 + ((z - 0.1) / 0.8) ** 2 < 1
    tumour = ((x + 0.4) / 0.1) ** 2 + ((y - 0.1) / 0.1) ** 2 + ((z - 0.1) / 0.25) ** 2 < 1
    spine = ((x / 0.08) ** 2 + ((y + 0.5) / 0.08) ** 2 < 1) & np.ones_like(z, dtype=bool)
    hu = np.full(shape, -1000.0, np.float32)
    hu[np.broadcast_to(body, shape)] = 40.0
    hu[np.broadcast_to(spine, shape) & np.broadcast_to(body, shape)] = 700.0
    liver = np.broadcast_to(liver, shape) & np.broadcast_to(body, shape)
    tumour = np.broadcast_to(tumour, shape) & liver
    hu[liver] = 100.0
    hu[tumour] = 45.0
    hu += rng.normal(0.0, 12.0, shape).astype(np.float32)
    labels = np.zeros(shape, np.uint8)
    labels[liver] = 1
    labels[tumour] = 2
    return hu, labels


@st.cache_resource
def demo_payload(shape, spacing, panels: int, title: str, use_phantom: bool):
    if use_phantom:
        from livseg.phantom import generate_case  # written by another engineer

        case = generate_case(seed=0)
        hu, labels, spacing = case.volume.array, case.labels, case.volume.spacing
    else:
        hu, labels = synthetic_case(shape)
    maps = {}
    for p in range(panels):
        lab = labels.copy()
        if p:  # a slightly different "result" per panel: eroded liver in one direction
            lab[p:, :, :][labels[:-p, :, :] == 0] = 0
        maps[f"Panel {chr(65 + p)}"] = lab
    return build_payload(hu, spacing, maps if panels > 1 else labels, title=title)


shape = tuple(int(v) for v in os.environ.get("LSV_SHAPE", "256,256,40").split(","))
spacing = tuple(float(v) for v in os.environ.get("LSV_SPACING", "0.75,0.75,5").split(","))
panels = int(os.environ.get("LSV_PANELS", "1"))
payload = demo_payload(
    shape,
    spacing,
    panels,
    os.environ.get("LSV_TITLE", "Case 7F3K"),
    os.environ.get("LSV_PHANTOM") == "1",
)
st.session_state.setdefault("full_runs", 0)
st.session_state.full_runs += 1
st.write(
    f"payload {payload.nbytes} bytes, ct factor {payload.ct_factor}, runs {st.session_state.full_runs}"
)
slice_viewer(payload, key="demo-viewer", height=int(os.environ.get("LSV_HEIGHT", "560")))


@st.fragment
def score_box():
    st.session_state.setdefault("scores", 0)
    if st.button("Submit score", key="submit-score"):
        st.session_state.scores += 1
    st.write(f"scores submitted: {st.session_state.scores}")


score_box()
if st.button("Full rerun", key="full-rerun"):
    pass
