"""Browser slice viewer for CT + liver / tumour label maps (Streamlit components v2).

The case travels to the browser once (``livseg.viewer_payload.build_payload``); slices,
views (one, or axial + coronal + sagittal with a linked crosshair), window/level, overlays,
zoom and the HU under the cursor are then handled by plain
JavaScript on canvases (``frontend/viewer.js``), so scrolling costs no Streamlit rerun.
Large messages are cached by the Streamlit client (``global.minCachedMessageSize``), so a
rerun with the same payload sends only a reference, not the volume again.

Usage in a page::

    from components.slice_viewer import slice_viewer
    payload = cached_build_payload(case_id)        # st.cache_data / st.cache_resource
    slice_viewer(payload, key="reading-viewer")

Keys while the viewer has focus (click it): ArrowUp/ArrowDown +-1 slice, PageUp/PageDown
+-10, Home/End, a/c/s views, b/l window presets, o outline/fill, v liver, t tumour, h all
overlays, +/- zoom, r reset. Keys 1-5 and Enter are never handled: they reach the page.
"""

from __future__ import annotations

import json
import struct
from pathlib import Path

import numpy as np
import streamlit as st

# the same fixed structure colours and display orientation as the server-rendered PNGs
from livseg.render import LIVER_RGB, TUMOUR_RGB, display_slice
from livseg.viewer_payload import ViewerPayload, without_ct

# per Streamlit session (= one page load in one browser tab): the CT content keys whose
# bytes this tab has received, and per viewer key what its last run sent
_HELD_KEY = "_livseg_viewer_held_cts"
_LAST_KEY = "_livseg_viewer_last_sent"


def _x_index_zero_on_the_right() -> bool:
    """Whether livseg.render shows x index 0 on the viewer's right in axial views.

    Probed from ``livseg.render.display_slice`` so that the browser viewer always follows the
    same display convention as the server-rendered PNGs (see the README's orientation note).
    """
    probe = np.zeros((2, 2, 1), np.uint8)
    probe[0, :, 0] = 1  # the x = 0 column
    return bool(display_slice(probe, "axial", 0)[:, -1].all())


FLIP_X = _x_index_zero_on_the_right()
COMPONENT_NAME = "livseg_slice_viewer"
FRONTEND = Path(__file__).resolve().parent / "frontend"
VIEWS = ("axial", "coronal", "sagittal")
PRESETS = ("abdomen", "liver")

_renderer = st.components.v2.component(
    COMPONENT_NAME,
    js=(FRONTEND / "viewer.js").read_text(encoding="utf-8"),
    css=(FRONTEND / "viewer.css").read_text(encoding="utf-8"),
    isolate_styles=True,
)


def encode_component_data(payload: ViewerPayload, options: dict) -> bytes:
    """The bytes the component receives: b"LSVO" | u32 LE length | options JSON | payload."""
    head = json.dumps(options, separators=(",", ":"), sort_keys=True).encode("utf-8")
    return b"LSVO" + struct.pack("<I", len(head)) + head + payload.data


def slice_viewer(
    payload: ViewerPayload,
    *,
    key: str,
    height: int | str = 560,
    view: str = "axial",
    slice_index: int | None = None,
    preset: str = "abdomen",
    opacity: float = 0.4,
    outline: bool = False,
    autofocus: bool = False,
    report_state: bool = False,
    settings_key: str | None = None,
    ct_once: bool = True,
    title: str | None = None,
) -> dict | None:
    """Show the viewer for ``payload`` (N label maps = N linked panels); returns view state.

    height: component height in px, or "fill" (from the viewer's top to the window's bottom,
    at least 420 px) or "screen" (the window's height); a full-screen toggle is in the toolbar.
    view / preset / opacity (0-1) / outline: initial display;
    slice_index: initial axial slice (0-based z index; default the middle slice);
    the reader's changes persist across reruns for the same ``key`` and payload.
    autofocus: focus the viewer when the case opens so arrow keys work at once.
    report_state: when True the browser sends {"view", "slice", "position", "window_width",
    "window_level"} back (debounced 0.6 s; each report is a Streamlit rerun, so keep it off
    unless needed) and this returns it; otherwise returns None.
    settings_key: an opaque id of the user (no name, nothing of the item): her view, layout
    (one view / three views), window, fill / outline, opacity and overlay choices are kept in the browser's localStorage under
    it and used for every later case (next item, next session); None keeps nothing.
    ct_once: send a CT's bytes once per browser tab: a later case with the same CT (another
    label map of the same case) goes without them (``without_ct``) and the browser takes
    the CT it keeps by its content key ``ct.id``; if it no longer has it, it asks and the
    next run sends the whole payload.
    title: the caption in the viewer's slice row (an opaque text the caller chooses); None
    shows the payload's own title. Kept out of the payload so that one built payload serves
    every user of the same case (a reader's item code differs per reader).
    """
    if not isinstance(payload, ViewerPayload):
        raise TypeError(
            f"slice_viewer needs a ViewerPayload from livseg.viewer_payload.build_payload, "
            f"got {type(payload).__name__}"
        )
    if not isinstance(key, str) or not key:
        raise ValueError("slice_viewer needs a non-empty string key")
    if view not in VIEWS:
        raise ValueError(f"view must be one of {VIEWS}, got {view!r}")
    if preset not in PRESETS:
        raise ValueError(f"preset must be one of {PRESETS}, got {preset!r}")
    if not 0.0 <= float(opacity) <= 1.0:
        raise ValueError(f"opacity must be in [0, 1], got {opacity!r}")
    if height not in ("fill", "screen") and (
        isinstance(height, str) or not 200 <= int(height) <= 4000
    ):
        raise ValueError(f"height must be 200..4000 px, 'fill' or 'screen', got {height!r}")
    if settings_key is not None and (
        not isinstance(settings_key, str) or not 0 < len(settings_key) <= 64
    ):
        raise ValueError("settings_key must be None or text of 1-64 characters")
    if title is not None and not isinstance(title, str):
        raise ValueError("title must be None or a string")
    if slice_index is not None and not 0 <= int(slice_index) < payload.shape[2]:
        raise ValueError(f"slice_index must be in 0..{payload.shape[2] - 1}, got {slice_index!r}")
    options = {
        "slice": None if slice_index is None else int(slice_index),
        "height": height if isinstance(height, str) else int(height),
        "settings_key": settings_key,
        "view": view,
        "preset": preset,
        "opacity": float(opacity),
        "outline": bool(outline),
        "autofocus": bool(autofocus),
        "report_state": bool(report_state),
        "state_key": key,
        "title": title,
        "flip_x": FLIP_X,
        "colours": {"liver": list(LIVER_RGB), "tumour": list(TUMOUR_RGB)},
    }
    sent = _sendable(payload, key) if ct_once else payload
    data = encode_component_data(sent, options)
    mount_height = "content" if isinstance(height, str) else int(height)
    callbacks = {"on_missing_ct_change": lambda: _forget(payload.ct_id, key)}
    if report_state:
        callbacks["on_view_state_change"] = lambda: None
    result = _renderer(key=key, data=data, height=mount_height, **callbacks)
    return getattr(result, "view_state", None) if report_state else None


def _sendable(payload: ViewerPayload, key: str) -> ViewerPayload:
    """What to send this run: the same as the last run for the same key and payload (a rerun
    then costs a cached-message reference), else without the CT when this tab holds it."""
    held = st.session_state.setdefault(_HELD_KEY, set())
    last = st.session_state.setdefault(_LAST_KEY, {})
    previous = last.get(key)
    if previous is not None and previous[0] == payload.payload_id:
        lite = previous[1]
    else:
        lite = payload.ct_id in held
    held.add(payload.ct_id)
    last[key] = (payload.payload_id, lite)
    return without_ct(payload) if lite else payload


def _forget(ct_id: str, key: str) -> None:
    """The browser lost a CT it was sent (its cache is bounded): send it again."""
    st.session_state.setdefault(_HELD_KEY, set()).discard(ct_id)
    st.session_state.setdefault(_LAST_KEY, {}).pop(key, None)
