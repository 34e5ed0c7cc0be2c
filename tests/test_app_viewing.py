"""The app's viewer payload store (pages/_viewing.py): built once, shared, LRU, and the reading
page preparing the reader's next item in the background."""

from __future__ import annotations

import sqlite3
import threading
import time

import pytest

from livseg.io import load_labels, load_volume
from livseg.viewer_payload import build_payload, decode_payload
from pages import _viewing
from tests.apps import app_testing
from tests.apps.app_testing import reader_app, user_id

seeded, workspace = app_testing.seeded, app_testing.workspace  # fixtures


@pytest.fixture
def counting_build(monkeypatch):
    """Replace the expensive build by a slow stub that counts its calls."""
    calls: list[tuple] = []

    def fake(image_path, items):
        calls.append((image_path, items))
        time.sleep(0.2)
        if image_path == "broken":
            raise ValueError("not a NIfTI file")
        return f"payload of {image_path}"

    monkeypatch.setattr(_viewing, "_build", fake)
    return calls


def test_concurrent_requests_for_one_payload_build_it_once(counting_build):
    store = _viewing.PayloadStore(max_entries=2)
    key = ("ct.nii.gz", (("Segmentation", "seg.nii.gz"),), ((1, 2), (3, 4)))
    results = []
    threads = [threading.Thread(target=lambda: results.append(store.get(key))) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(counting_build) == 1
    assert results == ["payload of ct.nii.gz"] * 6
    assert store.cached(key)


def test_store_evicts_the_least_recently_used_and_does_not_cache_errors(counting_build):
    store = _viewing.PayloadStore(max_entries=2)
    keys = [(f"ct{i}", (), ()) for i in range(3)]
    store.get(keys[0])
    store.get(keys[1])
    store.get(keys[0])  # 0 is now the most recent
    store.get(keys[2])  # evicts 1
    assert [store.cached(k) for k in keys] == [True, False, True]
    broken = ("broken", (), ())
    for _ in range(2):
        with pytest.raises(ValueError, match="not a NIfTI"):
            store.get(broken)
    assert not store.cached(broken) and len([c for c in counting_build if c[0] == "broken"]) == 2


def test_store_builds_the_same_payload_as_the_files(workspace):
    """The store's payload decodes to the CT and label map read from the files themselves."""
    with sqlite3.connect(workspace / "livseg.db") as con:
        image, prediction = con.execute(
            "select c.image_path, r.prediction_path from items i join cases c on c.id = i.case_id"
            " join runs r on r.id = i.run_id limit 1"
        ).fetchone()
    store = _viewing.PayloadStore()
    key = _viewing._key(image, {"Segmentation": prediction})
    payload = store.get(key)
    volume = load_volume(image)
    labels = load_labels(prediction, like=volume)
    expected = build_payload(volume.array, volume.spacing, {"Segmentation": labels})
    assert payload.data == expected.data
    decoded = decode_payload(payload.data)
    assert (decoded["labels"][0] == labels).all()
    assert decoded["header"]["title"] == ""  # no reader's code in a shared payload


def _item_files(ws, username: str, position: int) -> tuple[str, str, str]:
    with sqlite3.connect(ws / "livseg.db") as con:
        return con.execute(
            "select a.code, c.image_path, r.prediction_path from assignments a"
            " join items i on i.id = a.item_id join cases c on c.id = i.case_id"
            " join runs r on r.id = i.run_id where a.reader_id = ? and a.position = ?",
            (user_id(ws, username), position),
        ).fetchone()


def _prefetch_idle() -> None:
    _viewing._PREFETCHER.submit(lambda: None).result(timeout=60)  # one worker: FIFO


def test_reading_page_prepares_the_next_item_while_she_reads(workspace, monkeypatch):
    built: list[str] = []
    real_build = _viewing._build

    def spy(image_path, items):
        built.append((image_path, items[0][1]))
        return real_build(image_path, items)

    monkeypatch.setattr(_viewing, "_build", spy)
    monkeypatch.setattr(_viewing, "_STORE", _viewing.PayloadStore())
    at = reader_app(workspace)
    assert not at.exception
    _, *files1 = _item_files(workspace, "reader1", 1)
    _, image2, prediction2 = _item_files(workspace, "reader1", 2)
    _prefetch_idle()
    # item 1 for the page, item 2 in the background
    assert built == [tuple(files1), (image2, prediction2)]
    assert _viewing._STORE.cached(_viewing._key(image2, {"Segmentation": prediction2}))
    at.button(key="likert_3").click().run()
    at.button(key="submit_score").click().run()
    assert not at.exception
    assert [p.proto.text.split(" · ")[0] for p in at.get("progress")] == ["Item 2 of 4"]
    _prefetch_idle()
    _, *files3 = _item_files(workspace, "reader1", 3)
    # item 2 was not built again; item 3 is prepared
    assert built == [tuple(files1), (image2, prediction2), tuple(files3)]


def test_prefetch_can_be_switched_off_and_never_raises(counting_build, monkeypatch, tmp_path):
    store = _viewing.PayloadStore()
    monkeypatch.setattr(_viewing, "_STORE", store)
    missing = str(tmp_path / "missing.nii.gz")
    _viewing.prefetch(missing, {"Segmentation": missing})  # no such file: ignored
    monkeypatch.setattr(_viewing, "PREFETCH_ENABLED", False)
    real = tmp_path / "ct.nii.gz"
    real.write_bytes(b"x")
    _viewing.prefetch(str(real), {})
    _prefetch_idle()
    assert counting_build == []
    monkeypatch.setattr(_viewing, "PREFETCH_ENABLED", True)
    _viewing.prefetch(str(real), {})
    _prefetch_idle()
    assert store.cached(_viewing._key(str(real), {}))


def _viewer_title(at) -> str:
    """The caption option the reading page's viewer element carries (LSVO options JSON)."""
    import json
    import struct

    (viewer,) = [el for el in at.get("bidi_component") if "slice_viewer" in el.proto.component_name]
    data = viewer.proto.bytes
    assert data[:4] == b"LSVO"
    (n,) = struct.unpack("<I", data[4:8])
    return json.loads(data[8 : 8 + n])["title"]


def test_readers_of_the_same_item_share_one_payload(workspace, monkeypatch):
    """Item codes differ per reader, the pixels do not: each (CT, label map) is built once
    for all readers (bench/app_load.py: 30 readers), and each reader's viewer still shows
    her own item code (a viewer option beside the shared payload)."""
    built: list[tuple[str, str]] = []
    real_build = _viewing._build

    def spy(image_path, items):
        built.append((image_path, items[0][1]))
        return real_build(image_path, items)

    monkeypatch.setattr(_viewing, "_build", spy)
    monkeypatch.setattr(_viewing, "_STORE", _viewing.PayloadStore())
    needed = []  # per reader: her item 1 (shown) and item 2 (prepared in the background)
    for reader in ("reader1", "reader2", "reader3"):
        at = reader_app(workspace, reader)
        assert not at.exception
        _prefetch_idle()
        code, *item1 = _item_files(workspace, reader, 1)
        _, *item2 = _item_files(workspace, reader, 2)
        assert _viewer_title(at) == code
        needed += [tuple(item1), tuple(item2)]
    assert len(set(needed)) < len(needed)  # the readers' queues overlap (else no test)
    assert sorted(built) == sorted(set(needed))  # one build per distinct item
