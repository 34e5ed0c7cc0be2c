"""Showing a CT with label overlays in a page: cached loading and the viewer embedding.

Uses the browser-side slice viewer (components.slice_viewer): the CT and label maps are sent
once and scrolled in the browser. Paths stay on the server: what reaches the browser is
pixels, spacing and the caller's opaque ``title``.
"""

from __future__ import annotations

import os

import numpy as np
import streamlit as st


def _stamp(path: str) -> tuple[int, int]:
    """(modification time ns, size) of a file: part of every cache key, so a file replaced
    at the same path (e.g. a new demo) is read again."""
    info = os.stat(path)
    return info.st_mtime_ns, info.st_size


@st.cache_resource(max_entries=8, show_spinner="Loading the CT…")
def _volume(path: str, stamp: tuple[int, int]):
    from livseg.io import load_volume as _load

    return _load(path)


@st.cache_resource(max_entries=32, show_spinner=False)
def _labels(path: str, stamp: tuple[int, int], image_path: str, image_stamp: tuple[int, int]):
    from livseg.io import load_labels as _load

    return _load(path, like=_volume(image_path, image_stamp))


def load_volume(path: str):
    """The Volume at ``path`` (kept in memory: switching items of the same case is instant)."""
    return _volume(path, _stamp(path))


def load_labels(path: str, image_path: str) -> np.ndarray:
    """The label map at ``path`` on the grid of the CT at ``image_path`` (cached)."""
    return _labels(path, _stamp(path), image_path, _stamp(image_path))


@st.cache_resource(max_entries=8, show_spinner="Preparing the viewer…")
def _payload(image_path: str, label_paths: tuple[tuple[str, str], ...], title: str, stamps: tuple):
    from livseg.viewer_payload import build_payload

    volume = load_volume(image_path)
    labels = {name: load_labels(path, image_path) for name, path in label_paths}
    return build_payload(volume.array, volume.spacing, labels, title=title)


def show_case(
    image_path: str, label_paths: dict[str, str], *, key: str, title: str, height: int = 560
) -> None:
    """Show the CT at ``image_path`` with each label map of ``label_paths`` (panel name -> path).

    Several label maps are shown side by side with linked slices. ``key`` and ``title`` and the
    panel names go to the browser: callers on the reader's page pass opaque values only.
    """
    from components.slice_viewer import slice_viewer

    items = tuple(label_paths.items())
    stamps = tuple(_stamp(p) for p in (image_path, *(path for _, path in items)))
    slice_viewer(_payload(image_path, items, title, stamps), key=key, height=height)
