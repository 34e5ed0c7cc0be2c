"""Throw-away Streamlit script for the viewer's browser tests and bench (not part of the app).

Environment: LSV_SHAPE="X,Y,Z" (default 256,256,40), LSV_PANELS (label maps, default 1),
LSV_TITLE (opaque title), LSV_SPACING="sx,sy,sz" mm (default 0.75,0.75,5),
LSV_PHANTOM=1 to use livseg.phantom.generate_case when it exists, LSV_HEIGHT px or "fill" /
"screen", LSV_WIDE=1 the app's wide layout; the query parameter ?reader=NAME keeps that reader's viewer settings.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import streamlit as st

sys.path.insert(0, str(Path(__file__).resolve().parent))

from viewer_synthetic import panel_maps, synthetic_case  # noqa: E402

from components.slice_viewer import slice_viewer  # noqa: E402
from livseg.viewer_payload import build_payload  # noqa: E402

if os.environ.get("LSV_WIDE") == "1":  # the app's own page layout
    st.set_page_config(layout="wide")


@st.cache_resource
def demo_payload(shape, spacing, panels: int, title: str, use_phantom: bool, seed: int = 0):
    if use_phantom:
        from livseg.phantom import generate_case

        case = generate_case(seed=seed)
        hu, labels, spacing = case.volume.array, case.labels, case.volume.spacing
    else:
        hu, labels = synthetic_case(shape, seed=seed)
    return build_payload(hu, spacing, panel_maps(labels, panels), title=title)


shape = tuple(int(v) for v in os.environ.get("LSV_SHAPE", "256,256,40").split(","))
spacing = tuple(float(v) for v in os.environ.get("LSV_SPACING", "0.75,0.75,5").split(","))
panels = int(os.environ.get("LSV_PANELS", "1"))
if os.environ.get("LSV_FLIP_X") == "1":  # test the other display convention of x
    import components.slice_viewer as _viewer

    _viewer.FLIP_X = True
OTHER_CASES = [f"case {seed}" for seed in range(1, 5)]  # other CTs (seeds 1-4)
item = st.radio("Item", ["first", "second", *OTHER_CASES], horizontal=True, key="item")
if item == "second":  # the same CT with another label map (next reading item of the case)
    panels = 1 if panels > 1 else 2
payload = demo_payload(
    shape,
    spacing,
    panels,
    os.environ.get("LSV_TITLE", "Case 7F3K"),
    os.environ.get("LSV_PHANTOM") == "1",
    int(item.split()[1]) if item in OTHER_CASES else 0,  # the next item is usually another case
)
st.session_state.setdefault("full_runs", 0)
st.session_state.full_runs += 1
st.write(
    f"payload {payload.nbytes} bytes, ct factor {payload.ct_factor}, runs {st.session_state.full_runs}"
)
height = os.environ.get("LSV_HEIGHT", "560")
state = slice_viewer(
    payload,
    key="demo-viewer",
    height=height if height in ("fill", "screen") else int(height),
    # ?reader=NAME: that reader's viewer settings are kept in the browser (localStorage)
    settings_key=st.query_params.get("reader"),
    slice_index=int(os.environ["LSV_SLICE"]) if os.environ.get("LSV_SLICE") else None,
    preset=os.environ.get("LSV_PRESET", "abdomen"),
    report_state=os.environ.get("LSV_REPORT") == "1",
)
if state:
    st.write(f"reported: {state['view']} slice {state['slice']} W {state['window_width']}")
if os.environ.get("LSV_CORRUPT") == "1":  # a damaged payload: the viewer must say so
    import dataclasses

    broken = dataclasses.replace(payload, data=payload.data[: len(payload.data) // 2])
    slice_viewer(broken, key="broken-viewer", height=300)
    ct_hu, _ = synthetic_case((64, 48, 12))
    slice_viewer(build_payload(ct_hu, (1.0, 1.0, 3.0), None, title="CT only"), key="ct-only")


@st.fragment
def score_box():
    st.session_state.setdefault("scores", 0)
    if st.button("Submit score", key="submit-score"):
        st.session_state.scores += 1
    st.write(f"scores submitted: {st.session_state.scores}")


score_box()
if st.button("Full rerun", key="full-rerun"):
    pass
