"""Registry of segmentation methods.

``METHODS`` lists the method names in display order; ``get_method(name)`` returns the
(cached) ``Method`` instance, so network weights are loaded once per process and device.
The instance is shared by every caller (Streamlit sessions, threads): ``Method.run`` writes
nothing on it and returns each call's own immutable ``MethodRun`` record.
Adding a method = one module with a ``Method`` subclass + one line in ``_REGISTRY``, or an
installed package with a ``livseg.methods`` entry point (``livseg.methods.plugins``).
"""

from __future__ import annotations

import importlib
import threading

from livseg.methods import plugins
from livseg.methods.base import Method, MethodRun, postprocess

# name -> "module:ClassName" (imported lazily so that `classical` never needs torch)
_REGISTRY: dict[str, str] = {
    "classical": "livseg.methods.classical:ClassicalMethod",
    "unet2d": "livseg.methods.unet2d:UNet2DMethod",
    "unet3d": "livseg.methods.unet3d:UNet3DMethod",
    "attention_unet": "livseg.methods.attention_unet:AttentionUNetMethod",
}

METHODS: list[str] = list(_REGISTRY)
TITLES: dict[str, str] = {
    "classical": "Threshold + region growing (control)",
    "unet2d": "U-Net (2D)",
    "unet3d": "3D U-Net",
    "attention_unet": "Attention U-Net",
}
NETWORK_METHODS: list[str] = ["unet2d", "unet3d", "attention_unet"]
# installed packages' ``livseg.methods`` entry points join METHODS / TITLES (livseg.methods.plugins)
plugins.refresh(list(_REGISTRY), METHODS, TITLES)

_cache: dict[tuple, Method] = {}
_lock = threading.Lock()


def method_class(name: str) -> type[Method]:
    """The Method subclass registered under ``name``."""
    if name not in _REGISTRY:
        raise ValueError(f"unknown method {name!r}; available: {', '.join(METHODS)}")
    module_name, cls_name = _REGISTRY[name].split(":")
    return getattr(importlib.import_module(module_name), cls_name)


def build_method(name: str, device: str = "auto", threads: int | None = None) -> Method:
    """A new instance of the method called ``name`` (the one registry lookup)."""
    if plugins.is_plugin(name):
        return plugins.PluginMethod(name, device=device, threads=threads)
    cls = method_class(name)
    if name in NETWORK_METHODS:
        return cls(device=device, threads=threads)
    return cls(threads=threads)


def get_method(name: str, device: str = "auto", threads: int | None = None) -> Method:
    """The method called ``name``, built once per (name, device, threads) and cached."""
    key = (name, device, threads)
    with _lock:
        if key not in _cache:
            _cache[key] = build_method(name, device=device, threads=threads)
        return _cache[key]


def clear_cache() -> None:
    """Forget every cached method (the next ``get_method`` reloads weights)."""
    with _lock:
        _cache.clear()


__all__ = [
    "METHODS",
    "TITLES",
    "Method",
    "MethodRun",
    "build_method",
    "get_method",
    "method_class",
    "postprocess",
    "clear_cache",
]
