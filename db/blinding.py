"""Blinding helpers: opaque item codes and each reader's seeded reading order.

Codes come from ``secrets`` (not from the seed, not sequential), so neither their value nor
their order says anything about the method. Orders come from a NumPy generator seeded with
the study's seed and the reader's index, so a study's orders can be re-derived from the
recorded seed.
"""

from __future__ import annotations

import secrets
from collections import defaultdict
from collections.abc import Hashable, Sequence
from typing import TypeVar

import numpy as np

T = TypeVar("T")

# no 0/O, 1/I/L: codes are read aloud and typed
CODE_ALPHABET = "23456789ABCDEFGHJKMNPQRSTUVWXYZ"
CODE_LENGTH = 8


def opaque_code(taken: set[str] | None = None) -> str:
    """A random code like ``K7QX-3M9P`` (31^8 ~ 8.5e11 values) not in ``taken``."""
    while True:
        raw = "".join(secrets.choice(CODE_ALPHABET) for _ in range(CODE_LENGTH))
        code = f"{raw[:4]}-{raw[4:]}"
        if taken is None or code not in taken:
            if taken is not None:
                taken.add(code)
            return code


def spread_order(
    entries: Sequence[T],
    group_of: Sequence[Hashable],
    rng: np.random.Generator,
    previous_group: Hashable | None = None,
) -> list[T]:
    """A random order of ``entries`` in which no two neighbours share a group (a case),
    unless no other choice exists.

    ``group_of[i]`` is the group of ``entries[i]``; ``previous_group`` is the group of the
    entry just before this list (e.g. the end of session 1). At each step an entry is drawn
    uniformly from those not of the previous entry's group, except that a group holding more
    than half of what is left must be drawn now (else it could not be kept apart later).
    The result has the minimum possible number of same-group neighbours.
    """
    if len(entries) != len(group_of):
        raise ValueError("entries and group_of must have the same length")
    pools: dict[Hashable, list[T]] = defaultdict(list)
    for entry, group in zip(entries, group_of, strict=True):
        pools[group].append(entry)
    groups = list(pools)
    for group in groups:  # random order inside each group
        pool = pools[group]
        perm = rng.permutation(len(pool))
        pools[group] = [pool[i] for i in perm]
    order: list[T] = []
    prev = previous_group
    remaining = len(entries)
    while remaining:
        live = [g for g in groups if pools[g]]
        candidates = [g for g in live if g != prev] or live
        # a group with more than half the remaining entries must go now
        urgent = [g for g in candidates if 2 * len(pools[g]) > remaining]
        if urgent:
            choice = max(urgent, key=lambda g: len(pools[g]))
        else:
            weights = np.array([len(pools[g]) for g in candidates], dtype=float)
            choice = candidates[int(rng.choice(len(candidates), p=weights / weights.sum()))]
        order.append(pools[choice].pop())
        prev = choice
        remaining -= 1
    return order
