"""Showing a CT with label overlays in a page: cached payloads, prefetch, the viewer embedding.

Uses the browser-side slice viewer (components.slice_viewer): the CT and label maps are sent
once and scrolled in the browser. Paths stay on the server: what reaches the browser is
pixels, spacing and the caller's opaque ``title``.

Opening a case costs the server ~2-3 s for a 512 x 512 x 120 CT (NIfTI load ~1 s, label map
~0.4 s, payload ~0.8-1.8 s). Built payloads are kept in a small process-wide LRU, and
``prefetch`` builds the payload of what the user will open next (the reader's next item) in
one background thread while she reads the current one, so "next item" only costs the
transfer and the browser's decode (bench/reading_open.py).

A payload holds pixels only: the caller's ``title`` (a reader's opaque item code, which
differs per reader) travels beside it as a viewer option, so every reader of the same case
and label map shares one built payload (bench/app_load.py: 30 readers).
"""

from __future__ import annotations

import hashlib
import logging
import os
import threading
from collections import OrderedDict
from concurrent.futures import Future, ThreadPoolExecutor

import streamlit as st

from livseg.viewer_payload import ViewerPayload

log = logging.getLogger("livseg.app")

PAYLOAD_CACHE_ENTRIES = 12  # ~5-8 MB each
# LIVSEG_PREFETCH=0 turns the background prefetch off (benchmarks' reference run)
PREFETCH_ENABLED = os.environ.get("LIVSEG_PREFETCH", "1") != "0"

Key = tuple


def _stamp(path: str) -> tuple[int, int]:
    """(modification time ns, size) of a file: part of every cache key, so a file replaced
    at the same path (e.g. a new demo) is read again."""
    info = os.stat(path)
    return info.st_mtime_ns, info.st_size


def _key(image_path: str, label_paths: dict[str, str]) -> Key:
    items = tuple(label_paths.items())
    stamps = tuple(_stamp(p) for p in (image_path, *(path for _, path in items)))
    return (image_path, items, stamps)


CT_CACHE_ENTRIES = 6  # CTs whose encodings are kept (~8-20 MB each)
_CT_LOCK = threading.Lock()
_CT_CACHES: OrderedDict[tuple, dict] = OrderedDict()
_LAST_VOLUME: dict = {}  # the last CT loaded: (path, stamp) -> Volume (the next method's item)


def _ct_cache(image_path: str) -> tuple[dict, object | None]:
    """(the encodings cache of this CT file, its loaded volume if it was the last one)."""
    key = (image_path, _stamp(image_path))
    with _CT_LOCK:
        cache = _CT_CACHES.get(key)
        if cache is None:
            cache = _CT_CACHES[key] = {}
            while len(_CT_CACHES) > CT_CACHE_ENTRIES:
                _CT_CACHES.popitem(last=False)
        _CT_CACHES.move_to_end(key)
        return cache, _LAST_VOLUME.get(key)


def _build(image_path: str, items: tuple[tuple[str, str], ...]) -> ViewerPayload:
    """Load the files and build the payload; another label map of a CT built before (the next
    method of the same case) reuses that CT's encoding and, if it was the last, its volume."""
    from livseg.io import load_labels, load_volume
    from livseg.viewer_payload import build_payload

    ct_cache, volume = _ct_cache(image_path)
    if volume is None:
        volume = load_volume(image_path)
        with _CT_LOCK:
            _LAST_VOLUME.clear()
            _LAST_VOLUME[(image_path, _stamp(image_path))] = volume
    labels = {name: load_labels(path, like=volume) for name, path in items}
    with _CT_LOCK:  # one build per CT cache at a time (the prefetch thread and a page)
        lock = ct_cache.setdefault("_lock", threading.Lock())
    with lock:
        return build_payload(volume.array, volume.spacing, labels, ct_cache=ct_cache)


class PayloadStore:
    """Thread-safe LRU of built viewer payloads; a payload being built is built once.

    Shared by every browser session of the server process (payloads carry only pixels and
    the panel names, so sharing leaks nothing between users).
    """

    def __init__(self, max_entries: int = PAYLOAD_CACHE_ENTRIES) -> None:
        self._max = max_entries
        self._lock = threading.Lock()
        self._done: OrderedDict[Key, ViewerPayload] = OrderedDict()
        self._building: dict[Key, Future] = {}

    def cached(self, key: Key) -> bool:
        """Whether ``key``'s payload is ready (no build needed)."""
        with self._lock:
            return key in self._done

    def get(self, key: Key) -> ViewerPayload:
        """The payload for ``key`` (built now, or waited for if another thread builds it)."""
        with self._lock:
            if key in self._done:
                self._done.move_to_end(key)
                return self._done[key]
            future = self._building.get(key)
            owner = future is None
            if owner:
                future = self._building[key] = Future()
        if not owner:
            return future.result()
        image_path, items, _ = key
        try:
            payload = _build(image_path, items)
        except BaseException as exc:
            with self._lock:
                del self._building[key]
            future.set_exception(exc)
            raise
        with self._lock:
            del self._building[key]
            self._done[key] = payload
            while len(self._done) > self._max:
                self._done.popitem(last=False)
        future.set_result(payload)
        return payload

    def clear(self) -> None:
        """Forget every finished payload and every CT encoding (tests)."""
        with self._lock:
            self._done.clear()
        with _CT_LOCK:
            _CT_CACHES.clear()
            _LAST_VOLUME.clear()


_STORE = PayloadStore()
_PREFETCHER = ThreadPoolExecutor(max_workers=1, thread_name_prefix="livseg-prefetch")


def viewer_settings_key(user_id: int) -> str:
    """The opaque key under which the browser keeps a user's viewer settings (16 hex)."""
    return hashlib.blake2b(
        f"livseg-viewer-settings:{int(user_id)}".encode(), digest_size=8
    ).hexdigest()


def _prefetch_job(key: Key) -> None:
    try:
        _STORE.get(key)
    except Exception:  # a broken file shows its message when the user opens it
        log.warning("prefetch of a viewer payload failed", exc_info=True)


def prefetch(image_path: str, label_paths: dict[str, str]) -> None:
    """Build, in the background, the payload that ``show_case`` with the same files will
    need (e.g. the reader's next item). Never raises; does nothing when already cached."""
    if not PREFETCH_ENABLED:
        return
    try:
        key = _key(image_path, label_paths)
    except OSError:
        return
    if not _STORE.cached(key):
        _PREFETCHER.submit(_prefetch_job, key)


def show_case(
    image_path: str,
    label_paths: dict[str, str],
    *,
    key: str,
    title: str,
    height: int | str = "fill",
    settings_key: str | None = None,
) -> None:
    """Show the CT at ``image_path`` with each label map of ``label_paths`` (panel name -> path).

    Several label maps are shown side by side with linked slices. ``key`` and ``title`` and the
    panel names go to the browser: callers on the reader's page pass opaque values only.
    height: px, "fill" (to the window's bottom) or "screen"; settings_key: the user's opaque
    id under which the browser keeps her viewer settings (see ``slice_viewer``).
    """
    from components.slice_viewer import slice_viewer

    payload_key = _key(image_path, label_paths)
    if _STORE.cached(payload_key):
        payload = _STORE.get(payload_key)
    else:
        with st.spinner("Loading the CT…"):
            payload = _STORE.get(payload_key)
    slice_viewer(payload, key=key, height=height, settings_key=settings_key, title=title)
