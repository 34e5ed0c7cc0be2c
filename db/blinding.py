"""Blinding helpers: opaque item codes, each reader's seeded reading order, her case subset
(a balanced, connected design) and her stratified re-reads.

Codes come from ``secrets`` (not from the seed, not sequential), so neither their value nor
their order says anything about the method. Orders come from a NumPy generator seeded with
the study's seed and the reader's index, so a study's orders can be re-derived from the
recorded seed.
"""

from __future__ import annotations

import secrets
from collections import defaultdict
from collections.abc import Collection, Hashable, Sequence
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


def connected_subset(n_cases: int, k: int, previous: Sequence[Collection[int]]) -> list[int]:
    """The next reader's ``k`` of ``n_cases`` cases (positions 0..n_cases-1), given the case
    sets of the readers before her, so that the design stays balanced and connected.

    Balanced: she takes the least-read cases, so every case is read equally often, give or
    take one, after every reader. Connected: among equally-read cases she prefers one from
    a group of readers her choice does not touch yet, which links the groups (readers linked
    through shared cases); then the case shared least with her picks' other readers (pair
    overlaps as even as the numbers allow); then the lowest position. The result depends
    only on the previous sets (not their order), so a reader added later gets the set a
    study created with her would have given her. Connected whenever the numbers allow
    (readers x k >= cases read + readers - 1). When the previous sets are not connected
    although every case is read (a study made with the earlier consecutive windows) and the
    balanced choice would stay inside one group, one case is taken from another group
    instead: linking the readers comes before perfect balance.
    """
    if not 1 <= k <= n_cases:
        raise ValueError(f"k must be between 1 and {n_cases}, got {k}")
    counts = [0] * n_cases
    parent: dict[int, int] = {}

    def find(x: int) -> int:
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    sets = [sorted(set(s)) for s in previous]
    for s in sets:
        for c in s:
            counts[c] += 1
            parent.setdefault(c, c)
        for c in s[1:]:
            a, b = find(s[0]), find(c)
            if a != b:
                parent[max(a, b)] = min(a, b)
    group = {c: find(c) for c in parent}
    low = min(counts)
    least = [c for c in range(n_cases) if counts[c] == low]
    if len(least) <= k:
        chosen, pool = least, [c for c in range(n_cases) if counts[c] == low + 1]
    else:
        chosen, pool = [], least
    while len(chosen) < k:
        touched = {group[x] for x in chosen if x in group}
        ranked = [
            (
                0 if c in group and group[c] not in touched else 1,  # links a new group
                sum(sum(x in s for x in chosen) for s in sets if c in s),  # shared so far
                c,
            )
            for c in pool
            if c not in chosen
        ]
        chosen.append(min(ranked)[2])
    touched = {group[x] for x in chosen if x in group}
    if low >= 1 and k >= 2 and len(set(group.values())) > 1 and len(touched) == 1:
        # every case is read but the balanced choice stays inside one group of readers
        # (a study made before this design): link another group at the cost of balance
        others = [c for c in range(n_cases) if group[c] not in touched]
        chosen[-1] = min(others, key=lambda c: (counts[c], c))
    return sorted(chosen)


def stratified_retest(
    items: Sequence[T],
    method_of: Sequence[Hashable],
    case_of: Sequence[Hashable],
    n: int,
    rng: np.random.Generator,
) -> list[T]:
    """``n`` of ``items`` to re-read, spread over the methods (each gets n // methods, the
    remainder going to methods drawn at random) and, within that, over the cases (a case is
    picked again only when every case of the method's items has been picked as often);
    ties drawn with ``rng``. Returned in the order of ``items``."""
    if not 0 <= n <= len(items):
        raise ValueError(f"n must be between 0 and {len(items)}, got {n}")
    methods = list(dict.fromkeys(method_of))
    per_method = {m: [i for i, mm in enumerate(method_of) if mm == m] for m in methods}
    quota = dict.fromkeys(methods, n // len(methods)) if methods else {}
    for j in rng.permutation(len(methods))[: n - sum(quota.values())]:
        quota[methods[int(j)]] += 1
    overflow = sum(max(0, quota[m] - len(per_method[m])) for m in methods)
    for m in methods:  # a method with too few items passes its excess on
        quota[m] = min(quota[m], len(per_method[m]))
    for m in methods:
        extra = min(overflow, len(per_method[m]) - quota[m])
        quota[m] += extra
        overflow -= extra
    picked: set[int] = set()
    case_picks: dict[Hashable, int] = defaultdict(int)
    slots = [m for r in range(max(quota.values(), default=0)) for m in methods if quota[m] > r]
    for m in slots:
        free = [i for i in per_method[m] if i not in picked]
        fewest = min(case_picks[case_of[i]] for i in free)
        ties = [i for i in free if case_picks[case_of[i]] == fewest]
        choice = ties[int(rng.integers(len(ties)))]
        picked.add(choice)
        case_picks[case_of[choice]] += 1
    return [items[i] for i in sorted(picked)]
