"""File naming: the one case id, NIfTI suffixes and the one safe name-to-path function.

**Case id.** A case has one id everywhere (``scan_folder``, the runs layout, the demo, the
database's case name): ``case_id(file name)`` = the file name without its NIfTI suffix
(``.nii`` / ``.nii.gz``, any letter case), without a leading ``volume-``, ``segmentation-``
or ``prediction-`` and without nnU-Net's ``_0000`` channel suffix. So LiTS
``volume-7.nii.gz`` and ``segmentation-7.nii.gz``, and the run ``unet2d/7.nii.gz``, are case
``"7"``; MSD ``imagesTr/liver_7.nii.gz`` is ``"liver_7"``. Ids are kept as written
(``volume-0007`` is ``"0007"``); ``case_key`` matches digit-only ids by their integer value
(``"0007"`` and ``"7"`` are the same case). One deliberate namespace: the demo registers its
phantom case ``"0"`` (files ``volume-0.nii.gz``, runs ``<method>/0.nii.gz``) in the database
as ``demo-0`` (``demo2-0`` for a second demo; ``db.demo.DemoPlan.case_name``), so demos never
collide with each other or with cases imported under their own ids.

**Names to paths.** ``safe_child(folder, name, suffix)`` is the one function that turns a
name that came from outside (a case id, a method name, a manifest entry, a form field) into a
path: it refuses an empty name, path separators, ``.`` / ``..``, NUL and other control
characters, absolute paths, and anything whose resolved path (symbolic links followed) is
not inside ``folder``, with an ``UnsafeNameError`` (a ``ValueError``) naming the name.
``inside_root(root, path)`` does the same for a whole path a user typed (the Models page's
server-folder import, limited to the import root).
"""

from __future__ import annotations

import os
import re
from pathlib import Path

NIFTI_SUFFIXES = (".nii.gz", ".nii")
# LiTS / runs prefixes in front of the case id (LiTS: volume-N, segmentation-N)
CASE_PREFIXES = ("segmentation-", "volume-", "prediction-")
_CHANNEL_SUFFIX = re.compile(r"_0000$")  # nnU-Net: image channel 0
_DIGITS = re.compile(r"\d+")
# a name someone chose (Models page case name, plug-in method name): 1-64 of these
PLAIN_NAME_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


class UnsafeNameError(ValueError):
    """A name (or path) that would leave its folder, or is not a usable file name."""

    def __init__(self, name, problem: str):
        self.name = name
        self.problem = problem
        super().__init__(f"{name!r}: {problem}")


def nifti_suffix(name: str | Path) -> str | None:
    """``".nii.gz"`` / ``".nii"`` (lower case) when the file name ends so, any letter case;
    else None."""
    lower = Path(name).name.lower()
    for suffix in NIFTI_SUFFIXES:
        if lower.endswith(suffix) and len(lower) > len(suffix):
            return suffix
    return None


def is_nifti_name(name: str | Path) -> bool:
    """True for a ``.nii`` / ``.nii.gz`` file name (``.NII.GZ`` too)."""
    return nifti_suffix(name) is not None


def strip_nifti_suffix(name: str | Path) -> str:
    """The file name without its NIfTI suffix (unchanged when it has none)."""
    base = Path(name).name
    suffix = nifti_suffix(base)
    return base[: -len(suffix)] if suffix else base


def case_id(path: str | Path) -> str:
    """The one case id of a file name (see the module docstring): ``volume-7.nii.gz`` -> ``"7"``,
    ``segmentation-0007.NII.GZ`` -> ``"0007"``, ``liver_3_0000.nii.gz`` -> ``"liver_3"``."""
    stem = strip_nifti_suffix(path)
    lower = stem.lower()
    for prefix in CASE_PREFIXES:
        if lower.startswith(prefix) and len(stem) > len(prefix):
            stem = stem[len(prefix) :]
            break
    return _CHANNEL_SUFFIX.sub("", stem) or stem


def case_key(path_or_id: str | Path) -> str:
    """Matching key of a file name or case id: digit-only ids by integer value ("0007" -> "7")."""
    cid = case_id(path_or_id)
    return str(int(cid)) if _DIGITS.fullmatch(cid) else cid


def lits_number(path: str | Path, kind: str) -> int | None:
    """N of a LiTS file name ``<kind>-N.nii[.gz]`` (kind ``volume`` / ``segmentation``, any
    letter case), else None."""
    stem = strip_nifti_suffix(path)
    if stem == Path(path).name:
        return None
    m = re.fullmatch(rf"{re.escape(kind)}-(\d+)", stem, flags=re.IGNORECASE)
    return int(m.group(1)) if m else None


def is_plain_name(name: str) -> bool:
    """True when a name someone chose (a typed case name, a plug-in's method name) is 1-64
    letters, digits, '.', '_' or '-', starting with a letter or digit (so it is also a safe
    file name)."""
    return bool(PLAIN_NAME_PATTERN.match(name or ""))


def check_name(name: str) -> str:
    """``name`` when it is one safe path component, else UnsafeNameError naming it."""
    if not isinstance(name, str):
        raise UnsafeNameError(name, f"a name must be text, got {type(name).__name__}")
    if name == "":
        raise UnsafeNameError(name, "empty name")
    if "\x00" in name:
        raise UnsafeNameError(name, "contains a NUL byte")
    if _CONTROL.search(name):
        raise UnsafeNameError(name, "contains a control character")
    if name in (".", ".."):
        raise UnsafeNameError(name, "'.' and '..' are not names")
    if "/" in name or "\\" in name or (os.altsep and os.altsep in name):
        raise UnsafeNameError(name, "contains a path separator ('/' or '\\')")
    if Path(name).is_absolute() or re.match(r"^[A-Za-z]:", name):
        raise UnsafeNameError(name, "is an absolute path")
    return name


def safe_child(folder: str | Path, name: str, suffix: str = "") -> Path:
    """THE name-to-path function: ``folder / (name + suffix)``, refused (UnsafeNameError, a
    ValueError naming the name) unless ``name`` is one plain path component and the resolved
    result (symbolic links followed) lies inside the resolved ``folder``."""
    check_name(name)
    if suffix:
        check_name(f"x{suffix}")
    folder = Path(folder)
    path = folder / f"{name}{suffix}"
    base = folder.resolve()
    if not path.resolve().is_relative_to(base) or path.resolve() == base:
        raise UnsafeNameError(name, f"resolves outside its folder {folder}")
    return path


def inside_root(root: str | Path, path: str | Path) -> Path:
    """A user-typed folder ``path`` (absolute, ``~``, or relative to ``root``) resolved, when it
    lies inside ``root`` (symbolic links followed); else UnsafeNameError naming the path."""
    text = str(path)
    if text.strip() == "":
        raise UnsafeNameError(text, "empty path")
    if "\x00" in text:
        raise UnsafeNameError(text, "contains a NUL byte")
    root = Path(root).expanduser().resolve()
    given = Path(text).expanduser()
    resolved = (given if given.is_absolute() else root / given).resolve()
    if not resolved.is_relative_to(root):
        raise UnsafeNameError(text, f"is outside the import folder {root}")
    return resolved


# --------------------------------------------------------------------------- layouts


def run_files(runs_dir: str | Path, method: str, case: str) -> tuple[Path, Path]:
    """The runs layout's two files of one run: ``runs_dir/<method>/<case>.nii.gz`` (labels)
    and ``<case>.json`` (how it ran); both names checked by ``safe_child``."""
    folder = safe_child(runs_dir, method)
    return safe_child(folder, case, ".nii.gz"), safe_child(folder, case, ".json")


def lits_files(cases_dir: str | Path, case: str, suffix: str = ".nii.gz") -> tuple[Path, Path]:
    """A LiTS folder's two files of one case: ``volume-<case>`` and ``segmentation-<case>``
    (+ ``suffix``), names checked by ``safe_child``."""
    check_name(case)
    return (
        safe_child(cases_dir, f"volume-{case}", suffix),
        safe_child(cases_dir, f"segmentation-{case}", suffix),
    )
