"""Plug-in methods: installed packages that declare an entry point in the group ``livseg.methods``.

A package declares, in its ``pyproject.toml``::

    [project.entry-points."livseg.methods"]
    my_method = "my_package:MyMethod"

The object named there is a class (instantiated with ``device=`` / ``threads=`` when its
constructor takes them), a factory function, or an object, that has ``title`` (text),
``version`` (text, e.g. a weights hash) and ``segment(volume) -> label map`` (a
``livseg.volume.Volume`` in, an integer array of the volume's shape with 0 background,
1 liver, 2 tumour out). A ``livseg.methods.base.Method`` subclass works as is. The entry
point's name is the method's name: it then appears in ``livseg.methods.METHODS`` / ``TITLES``
and works everywhere a built-in method does (``segment --method my_method``, the Models page,
runs, studies). A plug-in whose name is a built-in method's, or that fails to import, is
skipped with a warning (LivSeg keeps working). See docs/methods.md for a worked example.
"""

from __future__ import annotations

import inspect
import warnings
from importlib.metadata import EntryPoint, entry_points

import numpy as np

from livseg.methods.base import Method
from livseg.naming import is_plain_name
from livseg.volume import Volume

GROUP = "livseg.methods"
_found: dict[str, EntryPoint] = {}


def discover(builtin: set[str] | list[str]) -> dict[str, EntryPoint]:
    """The installed ``livseg.methods`` entry points by name, minus names in ``builtin``."""
    out: dict[str, EntryPoint] = {}
    for ep in entry_points(group=GROUP):
        if ep.name in builtin:
            warnings.warn(
                f"plug-in method {ep.name!r} ({ep.value}) skipped: the name is a built-in method",
                stacklevel=2,
            )
            continue
        if not is_plain_name(ep.name):  # method names become folder and file names
            warnings.warn(
                f"plug-in method {ep.name!r} ({ep.value}) skipped: a method name must be 1-64 "
                "letters, digits, '.', '_' or '-', starting with a letter or digit",
                stacklevel=2,
            )
            continue
        out.setdefault(ep.name, ep)
    return out


def refresh(builtin: list[str], methods: list[str], titles: dict[str, str]) -> list[str]:
    """Re-scan the entry points and update ``methods`` / ``titles`` IN PLACE (the registry's
    ``METHODS`` and ``TITLES``): built-ins first, then plug-ins by name. Returns the plug-in
    names. A plug-in that fails to load is left out with a warning."""
    found = {}
    for name, ep in sorted(discover(set(builtin)).items()):
        try:
            obj = ep.load()
        except Exception as exc:  # a broken package must not break LivSeg
            warnings.warn(f"plug-in method {name!r} ({ep.value}) skipped: {exc}", stacklevel=2)
            continue
        found[name] = ep
        titles[name] = str(getattr(obj, "title", "") or name)
    for name in list(titles):
        if name not in builtin and name not in found:
            del titles[name]
    methods[:] = list(builtin) + list(found)
    _found.clear()
    _found.update(found)
    return list(found)


def is_plugin(name: str) -> bool:
    """True when ``name`` is a plug-in found by the last ``refresh``."""
    return name in _found


def _instantiate(obj, device: str, threads: int | None):
    if not callable(obj) or hasattr(obj, "segment") and not inspect.isclass(obj):
        return obj  # an object with segment()
    try:
        params = inspect.signature(obj).parameters
    except (TypeError, ValueError):
        params = {}
    kwargs = {}
    if "device" in params:
        kwargs["device"] = device
    if "threads" in params:
        kwargs["threads"] = threads
    return obj(**kwargs)


class PluginMethod(Method):
    """A plug-in wrapped as a LivSeg ``Method``: its output is checked (shape, integer
    labels 0/1/2) and ``device`` / ``params`` are taken from it when it has them."""

    def __init__(self, name: str, device: str = "auto", threads: int | None = None) -> None:
        super().__init__()
        if name not in _found:
            raise ValueError(f"unknown plug-in method {name!r}")
        ep = _found[name]
        self.name = name
        self.entry_point = ep.value
        impl = _instantiate(ep.load(), device, threads)
        if not callable(getattr(impl, "segment", None)):
            raise TypeError(f"plug-in method {name!r} ({ep.value}) has no segment(volume)")
        self._impl = impl
        self.title = str(getattr(impl, "title", "") or name)
        self.device = str(getattr(impl, "device", "cpu"))

    @property
    def version(self) -> str:
        return str(getattr(self._impl, "version", "") or "unknown")

    def _segment(self, volume: Volume) -> tuple[np.ndarray, dict]:
        if isinstance(self._impl, Method):  # a LivSeg Method: its own immutable run record
            labels, ran = self._impl.run(volume)
            params = ran.params_dict()
        else:
            labels = np.asarray(self._impl.segment(volume))
            params = dict(getattr(self._impl, "params", {}) or {})
        params.setdefault("plugin", self.entry_point)
        if labels.shape != volume.shape:
            raise RuntimeError(
                f"plug-in {self.name}: labels of shape {labels.shape}, volume is {volume.shape}"
            )
        if labels.dtype.kind not in "biu":
            raise RuntimeError(f"plug-in {self.name}: labels must be integers, got {labels.dtype}")
        bad = np.setdiff1d(np.unique(labels), (0, 1, 2))
        if bad.size:
            raise RuntimeError(
                f"plug-in {self.name}: label values {bad.tolist()[:8]} outside 0/1/2"
            )
        return labels.astype(np.uint8), params
