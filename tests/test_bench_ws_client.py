"""bench/streamlit_ws_client.py: the load bench's websocket client, its pure parts (no server).

ForwardMsg / BackMsg are built by hand here with the installed streamlit's protobufs, the
way the server's script run context and the frontend write them."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
from streamlit.proto.BackMsg_pb2 import BackMsg
from streamlit.proto.ForwardMsg_pb2 import ForwardMsg
from streamlit.proto.WidgetStates_pb2 import WidgetState

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "bench"))

from streamlit_ws_client import (  # noqa: E402
    Page,
    StreamlitClient,
    events_widget_id,
    rerun_message,
)


def _new_session(page_hash: str = "hash-home") -> ForwardMsg:
    msg = ForwardMsg()
    msg.new_session.page_script_hash = page_hash
    return msg


def _finished(status) -> ForwardMsg:
    msg = ForwardMsg()
    msg.script_finished = status
    return msg


def _element(path, kind: str, fragment_id: str = "", **fields) -> ForwardMsg:
    msg = ForwardMsg()
    msg.metadata.delta_path[:] = list(path)
    if fragment_id:
        msg.delta.fragment_id = fragment_id
    proto = getattr(msg.delta.new_element, kind)
    for name, value in fields.items():
        setattr(proto, name, value)
    return msg


def test_stale_elements_dropped_after_a_full_run_kept_after_a_fragment_run():
    page = Page()
    page.apply(_new_session())
    page.apply(_element([0, 0], "heading", body="Item A"))
    page.apply(_element([0, 1, 0], "button", "frag1", id="b1", label="1 – Unusable"))
    page.apply(_element([0, 1, 1], "markdown", "frag1", body="Choose a score"))
    page.apply(_finished(ForwardMsg.FINISHED_SUCCESSFULLY))
    assert not page.running and page.page_script_hash == "hash-home"
    # a fragment run sends only the fragment's elements: the heading outside stays, the
    # fragment's caption that it did not send again goes
    page.apply(_new_session())
    page.apply(_element([0, 1, 0], "button", "frag1", id="b1", label="1 – Unusable"))
    page.apply(_finished(ForwardMsg.FINISHED_FRAGMENT_RUN_SUCCESSFULLY))
    assert [e.text for e in page.find_all()] == ["Item A", "1 – Unusable"]
    # a run cut short by st.rerun drops nothing and leaves the page running; the full run
    # after it drops whatever it did not send
    page.apply(_new_session())
    page.apply(_finished(ForwardMsg.FINISHED_EARLY_FOR_RERUN))
    assert page.running and len(page.find_all()) == 2
    page.apply(_new_session())
    page.apply(_element([0, 0], "heading", body="Item B"))
    page.apply(_finished(ForwardMsg.FINISHED_SUCCESSFULLY))
    assert [e.text for e in page.find_all()] == ["Item B"] and not page.running


def test_find_by_label_prefix_and_kind_in_page_order():
    page = Page()
    page.apply(_new_session())
    page.apply(_element([0, 2], "button", id="s", label="Submit"))
    page.apply(_element([0, 1], "button", id="b4", label="4 – Minor corrections"))
    page.apply(_element([0, 0], "text_input", id="u", label="Submit"))
    assert page.find("button", "4 –*").id == "b4"
    assert page.find("button", "Submit").id == "s"
    assert page.find(label="Submit").kind == "text_input"  # page order: path (0, 0) first
    assert page.find("button", "5 –*") is None


def test_ref_hash_resolved_from_the_cache_at_the_reference_path():
    page = Page()
    page.apply(_new_session())
    big = _element([0, 3], "bidi_component", id="v1", component_name="x_slice_viewer")
    big.delta.new_element.bidi_component.bytes = b"CT" * 100
    big.hash, big.metadata.cacheable = "h123", True
    page.apply(big)
    ref = ForwardMsg()
    ref.ref_hash = "h123"
    ref.metadata.delta_path[:] = [0, 5]
    page.apply(ref)
    viewer = page.elements[(0, 5)]
    assert viewer.kind == "bidi_component" and viewer.proto.bytes == b"CT" * 100
    assert page.component("slice_viewer") is page.elements[(0, 3)]
    assert list(page.cache) == ["h123"]
    missing = ForwardMsg()
    missing.ref_hash = "nope"
    with pytest.raises(KeyError):
        page.apply(missing)


def test_exception_and_error_alerts_are_recorded():
    page = Page()
    page.apply(_new_session())
    page.apply(_element([0, 0], "exception", type="OperationalError", message="locked"))
    page.apply(_element([0, 1], "alert", body="The score was not saved", format=1))
    assert page.errors == ["exception OperationalError: locked"]
    assert page.alerts == [(1, "The score was not saved")]


def test_rerun_message_carries_states_fragment_page_hash_and_cached_hashes():
    page = Page(page_script_hash="hash-home")
    page.cache["h1"] = ForwardMsg()
    states = {"b": WidgetState(id="b", trigger_value=True)}
    raw = rerun_message(page, states, fragment_id="frag1").SerializeToString()
    msg = BackMsg()
    msg.ParseFromString(raw)  # what the server's websocket handler parses
    rerun = msg.rerun_script
    assert msg.WhichOneof("type") == "rerun_script"
    assert rerun.page_script_hash == "hash-home" and rerun.fragment_id == "frag1"
    assert [(w.id, w.trigger_value) for w in rerun.widget_states.widgets] == [("b", True)]
    assert list(rerun.cached_message_hashes) == ["h1"]


def test_form_values_travel_only_with_their_submit_and_only_while_on_screen():
    client = StreamlitClient("http://127.0.0.1:1")
    page = client.page
    page.apply(_new_session())
    page.apply(_element([0, 0], "text_input", id="user", label="Username", form_id="f"))
    page.apply(_element([0, 1], "text_area", id="note", label="Comment"))
    user, note = page.find(label="Username"), page.find(label="Comment")
    client.set_value(user, string_value="load01")
    client.set_value(note, string_value="edge")
    assert set(client._current_states({}, form_id=None)) == {"note"}
    assert set(client._current_states({}, form_id="f")) == {"user", "note"}
    page.apply(_finished(ForwardMsg.FINISHED_SUCCESSFULLY))
    page.apply(_new_session())
    page.apply(_element([0, 1], "text_area", id="note", label="Comment"))
    page.apply(_finished(ForwardMsg.FINISHED_SUCCESSFULLY))  # the form is gone
    assert set(client._current_states({}, form_id="f")) == {"note"}


def test_component_event_widget_id_and_payload_shape():
    page = Page()
    page.apply(_new_session())
    page.apply(_element([0, 0], "bidi_component", id="$$ID-abc-cookie", component_name="c"))
    component = page.find("bidi_component")
    # streamlit's own rule for the trigger aggregator id (components v2)
    from streamlit.components.v2.bidi_component.main import _make_trigger_id

    assert events_widget_id(component) == _make_trigger_id("$$ID-abc-cookie", "events")
    # the payload the server's deserialize_trigger_list reads back
    from streamlit.components.v2.bidi_component.serialization import deserialize_trigger_list

    payload = json.dumps([{"event": "done", "value": "n1"}])
    assert deserialize_trigger_list(payload) == [{"event": "done", "value": "n1"}]
