"""A light Streamlit client for load benches: speaks the app's websocket protocol, no renderer.

The Streamlit frontend talks to the server over one websocket, ``/_stcore/stream``
(subprotocol ``streamlit``): it sends ``BackMsg`` protobufs and receives ``ForwardMsg``
protobufs (``streamlit.proto``, from the installed package, so the client always matches the
server's version). This module does what the frontend does for a scripted user, minus the
drawing:

* a rerun is ``BackMsg(rerun_script=ClientState(...))`` with the page's script hash (from
  ``NewSession``), the page name (the url path) on the first run, the widget states, the
  fragment id of the widget that was used (a widget inside an ``st.fragment`` reruns only
  that fragment), and the hashes of the large messages it holds (``cached_message_hashes``:
  the server then sends a ``ref_hash`` instead of the bytes again);
* widget states follow the frontend's rules: every value the user set is sent with every
  later rerun while its widget is on screen (``WidgetState.string_value``...), a button
  click is a one-off ``trigger_value``, a form's values travel only with its submit button,
  a components-v2 event is a ``json_trigger_value`` on the component's ``..__events``
  aggregator widget;
* the page is the set of ``ForwardMsg.delta`` elements by delta path; at the end of a full
  run (``script_finished``) elements the run did not send again are dropped, as the
  frontend does (a fragment run keeps what lies outside the fragment).

Timing is left to the caller: :meth:`StreamlitClient.send_rerun` returns the
``time.perf_counter()`` just before the frame was written and every received message is
stamped, so "click -> element X received" is measured on one clock without any browser
work (decoding images, layout, painting) in it.

Pure parts (``Page``: applying deltas, ``ref_hash`` resolution, finding widgets) work on
``ForwardMsg`` objects and are tested without a server (tests/test_bench_ws_client.py).
"""

from __future__ import annotations

import asyncio
import json
import time
from dataclasses import dataclass, field

from streamlit.proto.BackMsg_pb2 import BackMsg
from streamlit.proto.ForwardMsg_pb2 import ForwardMsg
from streamlit.proto.WidgetStates_pb2 import WidgetState

# script_finished statuses (ForwardMsg.ScriptFinishedStatus)
FINISHED_OK = ForwardMsg.FINISHED_SUCCESSFULLY
FINISHED_EARLY_FOR_RERUN = ForwardMsg.FINISHED_EARLY_FOR_RERUN
FINISHED_FRAGMENT_OK = ForwardMsg.FINISHED_FRAGMENT_RUN_SUCCESSFULLY
EVENTS_SUFFIX = "__events"  # components v2: the trigger aggregator widget's id suffix
INTERNAL_PREFIX = "$$STREAMLIT_INTERNAL_KEY"


@dataclass(eq=False)  # identity: usable as a dict key
class Element:
    """One element of the page as the last delta at its path described it."""

    path: tuple[int, ...]
    kind: str  # the Element oneof: "button", "text_input", "bidi_component", "heading", ...
    proto: object  # that oneof's message (e.g. streamlit.proto.Button_pb2.Button)
    fragment_id: str  # the st.fragment it belongs to ("" for the main script)
    run: int  # the script run (count of NewSession messages) that sent it
    received_at: float  # time.perf_counter() when its delta arrived

    @property
    def id(self) -> str:
        return getattr(self.proto, "id", "")

    @property
    def label(self) -> str:
        return getattr(self.proto, "label", "")

    @property
    def form_id(self) -> str:
        return getattr(self.proto, "form_id", "")

    @property
    def text(self) -> str:
        """What a reader would read: a heading's or markdown's body, a widget's label."""
        return getattr(self.proto, "body", "") or self.label


@dataclass
class Page:
    """The page the server's ``ForwardMsg`` stream describes (no drawing).

    ``apply(msg)`` folds one message in; ``elements``, ``find`` and ``texts`` answer what is
    on screen. It also keeps the protocol's bookkeeping: the page script hash, the cached
    large messages by hash, whether a script run is under way, and app-side failures (an
    uncaught exception element, an ``st.error``) in ``errors``.
    """

    elements: dict[tuple[int, ...], Element] = field(default_factory=dict)
    page_script_hash: str = ""
    run: int = 0
    running: bool = False
    last_status: int | None = None
    cache: dict[str, ForwardMsg] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)
    alerts: list[tuple[int, str]] = field(default_factory=list)  # (Alert.format, body)
    _fragments_this_run: set[str] = field(default_factory=set)

    def apply(self, msg: ForwardMsg, now: float | None = None) -> None:
        """Fold one ForwardMsg into the page (resolving a ``ref_hash`` from the cache)."""
        now = time.perf_counter() if now is None else now
        kind = msg.WhichOneof("type")
        if kind == "ref_hash":
            cached = self.cache.get(msg.ref_hash)
            if cached is None:
                raise KeyError(f"ref_hash {msg.ref_hash[:12]} of a message this client lacks")
            full = ForwardMsg()
            full.CopyFrom(cached)
            full.metadata.CopyFrom(msg.metadata)  # the reference's own delta path
            msg, kind = full, full.WhichOneof("type")
        elif msg.metadata.cacheable and msg.hash:
            self.cache[msg.hash] = msg
        if kind == "new_session":
            self.run += 1
            self.running = True
            self._fragments_this_run = set()
            self.page_script_hash = msg.new_session.page_script_hash
        elif kind == "delta":
            self._apply_delta(msg, now)
        elif kind == "script_finished":
            self.last_status = msg.script_finished
            if msg.script_finished in (FINISHED_OK, FINISHED_FRAGMENT_OK):
                self._drop_stale(fragment_only=msg.script_finished == FINISHED_FRAGMENT_OK)
            if msg.script_finished != FINISHED_EARLY_FOR_RERUN:
                self.running = False
        elif kind == "session_status_changed":
            if msg.session_status_changed.script_is_running:
                self.running = True
        elif kind == "page_not_found":
            self.errors.append(f"page not found: {msg.page_not_found.page_name}")

    def _apply_delta(self, msg: ForwardMsg, now: float) -> None:
        delta = msg.delta
        path = tuple(msg.metadata.delta_path)
        if delta.fragment_id:
            self._fragments_this_run.add(delta.fragment_id)
        which = delta.WhichOneof("type")
        if which == "new_element":
            kind = delta.new_element.WhichOneof("type")
            proto = getattr(delta.new_element, kind)
            element = Element(path, kind, proto, delta.fragment_id, self.run, now)
            self.elements[path] = element
            if kind == "exception":
                self.errors.append(f"exception {proto.type}: {proto.message[:200]}")
            elif kind == "alert":
                self.alerts.append((proto.format, proto.body))
        elif which == "add_block":
            # a block replaces what was at its path: drop the old subtree's elements
            self.elements = {
                p: e for p, e in self.elements.items() if p[: len(path)] != path or p == path
            }

    def _drop_stale(self, *, fragment_only: bool) -> None:
        """End of a run: drop elements it did not send again (the frontend's clearing of
        stale nodes); a fragment-only run clears only inside the fragments it ran."""
        self.elements = {
            p: e
            for p, e in self.elements.items()
            if e.run == self.run
            or (fragment_only and e.fragment_id not in self._fragments_this_run)
        }

    # ----------------------------------------------------------------- queries

    def find_all(self, kind: str | None = None, label: str | None = None) -> list[Element]:
        """Elements of ``kind`` (any when None) whose label / text equals ``label`` (or
        starts with it when ``label`` ends with "*"), in page order."""
        out = []
        for path in sorted(self.elements):
            e = self.elements[path]
            if kind is not None and e.kind != kind:
                continue
            if label is not None:
                if label.endswith("*"):
                    if not e.text.startswith(label[:-1]):
                        continue
                elif e.text != label:
                    continue
            out.append(e)
        return out

    def find(self, kind: str | None = None, label: str | None = None) -> Element | None:
        """The first element ``find_all`` gives, or None."""
        found = self.find_all(kind, label)
        return found[0] if found else None

    def texts(self) -> list[str]:
        """Every heading / markdown / alert / caption text on the page, in page order."""
        return [e.text for e in self.find_all() if e.text]

    def component(self, name_part: str) -> Element | None:
        """The components-v2 element whose component name contains ``name_part``."""
        for e in self.find_all("bidi_component"):
            if name_part in e.proto.component_name:
                return e
        return None


def events_widget_id(component: Element) -> str:
    """The id of a components-v2 element's trigger aggregator widget."""
    return f"{INTERNAL_PREFIX}_{component.id}{EVENTS_SUFFIX}"


def rerun_message(
    page: Page,
    states: dict[str, WidgetState],
    *,
    page_name: str = "",
    fragment_id: str = "",
    query_string: str = "",
) -> BackMsg:
    """The BackMsg the frontend sends for a rerun with these widget ``states``."""
    msg = BackMsg()
    rerun = msg.rerun_script
    rerun.query_string = query_string
    rerun.page_script_hash = page.page_script_hash
    rerun.page_name = page_name
    rerun.fragment_id = fragment_id
    rerun.widget_states.widgets.extend(states.values())
    rerun.cached_message_hashes.extend(page.cache)
    rerun.context_info.timezone = "UTC"
    rerun.context_info.timezone_offset = 0
    rerun.context_info.locale = "en-US"
    return msg


class StreamlitClient:
    """One browser tab's worth of Streamlit session over a websocket (asyncio).

    ``async with StreamlitClient("http://127.0.0.1:8501") as app:`` connects and runs the
    page once; then ``click``, ``submit_form``, ``component_event`` send reruns and
    ``wait_idle`` / ``wait_for`` wait for the server's answer. ``app.page`` is what is on
    screen; ``app.log`` holds (perf_counter, message type, element kind) per message.
    """

    def __init__(self, url: str, *, page_name: str = "", timeout_s: float = 120.0) -> None:
        self.ws_url = url.replace("http://", "ws://").rstrip("/") + "/_stcore/stream"
        self.page_name = page_name
        self.timeout_s = timeout_s
        self.page = Page()
        self.values: dict[str, WidgetState] = {}  # widget id -> the value the user set
        self.bytes_received = 0
        self._ws = None
        self._reader: asyncio.Task | None = None
        self._changed = asyncio.Event()
        self._closed_exc: BaseException | None = None
        self._first_run_sent = False

    async def __aenter__(self) -> StreamlitClient:
        await self.connect()
        return self

    async def __aexit__(self, *exc) -> None:
        await self.close()

    async def connect(self) -> None:
        """Open the websocket and run the app once (as a page load does)."""
        from websockets.asyncio.client import connect

        self._ws = await connect(
            self.ws_url,
            subprotocols=["streamlit"],
            max_size=None,  # CT payloads are several MB
            compression=None,  # the server does not compress (enableWebsocketCompression)
            open_timeout=self.timeout_s,
            ping_interval=None,
        )
        self._reader = asyncio.create_task(self._read())
        await self.send_rerun()
        await self.wait_idle()

    async def close(self) -> None:
        if self._ws is not None:
            await self._ws.close()
        if self._reader is not None:
            self._reader.cancel()
            try:
                await self._reader
            except (asyncio.CancelledError, Exception):  # noqa: BLE001 - closing anyway
                pass

    async def _read(self) -> None:
        try:
            async for frame in self._ws:
                now = time.perf_counter()
                self.bytes_received += len(frame)
                msg = ForwardMsg()
                msg.ParseFromString(frame)
                self.page.apply(msg, now)
                self._changed.set()
        except BaseException as exc:  # noqa: BLE001 - handed to the waiter
            self._closed_exc = exc
            self._changed.set()
            raise

    # ----------------------------------------------------------------- sending

    def _current_states(self, extra: dict[str, WidgetState], form_id: str | None) -> dict:
        """Values set earlier whose widgets are still on screen (form values only with
        their form's submit), then ``extra``."""
        on_screen = {e.id: e for e in self.page.elements.values() if e.id}
        states = {}
        for wid, state in self.values.items():
            e = on_screen.get(wid)
            if e is None or (e.form_id and e.form_id != form_id):
                continue
            states[wid] = state
        states.update(extra)
        return states

    async def send_rerun(
        self, extra: dict[str, WidgetState] | None = None, *, fragment_id: str = "",
        form_id: str | None = None,
    ) -> float:  # fmt: skip
        """Send a rerun; returns ``time.perf_counter()`` just before the frame went out."""
        states = self._current_states(extra or {}, form_id)
        page_name = "" if self._first_run_sent else self.page_name
        msg = rerun_message(self.page, states, page_name=page_name, fragment_id=fragment_id)
        self._first_run_sent = True
        self.page.running = True  # until this rerun's script_finished arrives
        t = time.perf_counter()
        await self._ws.send(msg.SerializeToString())
        return t

    def set_value(self, element: Element, **value) -> None:
        """Set a widget's value, e.g. ``set_value(box, string_value="x")`` (sent with the
        next rerun, as the frontend does for a typed text)."""
        state = WidgetState(id=element.id, **value)
        self.values[element.id] = state

    async def click(self, button: Element) -> float:
        """Click ``button`` (its fragment only, if it lies in one); returns the send time."""
        trigger = {button.id: WidgetState(id=button.id, trigger_value=True)}
        return await self.send_rerun(
            trigger, fragment_id=button.fragment_id, form_id=button.form_id or None
        )

    async def submit_form(self, submit: Element, values: dict[Element, str]) -> float:
        """Type ``values`` into the form's text boxes and press its submit button."""
        for element, text in values.items():
            self.set_value(element, string_value=text)
        return await self.click(submit)

    async def component_event(self, component: Element, event: str, value) -> float:
        """A components-v2 element's ``setTriggerValue(event, value)`` in the browser."""
        wid = events_widget_id(component)
        payload = json.dumps([{"event": event, "value": value}])
        state = {wid: WidgetState(id=wid, json_trigger_value=payload)}
        return await self.send_rerun(state, fragment_id=component.fragment_id)

    # ----------------------------------------------------------------- waiting

    async def wait_for(self, predicate, timeout_s: float | None = None) -> float:
        """Wait until ``predicate(page)`` is true (checked after every message); returns
        the receive time of the message that made it true. TimeoutError otherwise."""
        deadline = time.perf_counter() + (timeout_s or self.timeout_s)
        while True:
            if predicate(self.page):
                return time.perf_counter()
            if self._closed_exc is not None:
                raise ConnectionError(f"websocket closed: {self._closed_exc!r}")
            left = deadline - time.perf_counter()
            if left <= 0:
                raise TimeoutError(f"no such page state within {timeout_s or self.timeout_s} s")
            self._changed.clear()
            try:
                await asyncio.wait_for(self._changed.wait(), left)
            except TimeoutError:
                continue

    async def wait_idle(self, timeout_s: float | None = None) -> float:
        """Wait until no script run is under way (the last rerun finished)."""
        return await self.wait_for(lambda p: not p.running, timeout_s)
