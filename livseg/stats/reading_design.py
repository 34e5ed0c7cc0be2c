"""The reader x item design of a score table: complete or not, connected or not.

A study's scores form a bipartite graph of readers and items (case x method): an edge for
each score. The design is *complete* when every reader scored every item, and *connected*
when that graph is connected (every two readers are linked through shared items, so one
scale ties them all; agreement statistics that allow missing cells, such as Krippendorff's
alpha or a crossed random-effects ICC, can use every score). Components are found with
``scipy.sparse.csgraph.connected_components``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components


@dataclass(frozen=True)
class ReadingDesign:
    """Counts of a reader x item design (items = case x method)."""

    readers: tuple[str, ...]
    n_items: int
    n_scores: int
    items_per_reader: tuple[int, int]  # min, max
    readers_per_item: tuple[int, int]  # min, max over the items scored at least once
    n_items_all_readers: int  # items scored by every reader
    complete: bool
    n_components: int

    @property
    def connected(self) -> bool:
        """Every two readers are linked through shared items."""
        return self.n_components <= 1

    def text(self) -> str:
        """One sentence for the report's methods paragraph."""
        k = len(self.readers)
        if k == 0:
            return "no scores yet"
        if self.complete:
            return f"complete: each of the {k} readers scored all {self.n_items} items"
        lo, hi = self.items_per_reader
        per = f"{lo}" if lo == hi else f"{lo}-{hi}"
        rlo, rhi = self.readers_per_item
        by = f"{rlo}" if rlo == rhi else f"{rlo}-{rhi}"
        link = (
            "connected (every two readers are linked through shared items)"
            if self.connected
            else f"not connected ({self.n_components} groups of readers share no item)"
        )
        return (
            f"incomplete: {k} readers scored {per} of {self.n_items} items each (each item "
            f"by {by} readers; {self.n_items_all_readers} items by every reader); the design "
            f"is {link}"
        )


def reading_design(scores: pd.DataFrame) -> ReadingDesign:
    """The design of a long score table (case, method, reader, score; NaN scores ignored)."""
    s = scores.dropna(subset=["score"])
    readers = tuple(str(r) for r in pd.unique(s["reader"].astype(str)))
    items = s["case"].astype(str) + "\x1f" + s["method"].astype(str)
    item_codes, item_index = pd.factorize(items)
    reader_codes = pd.Index(readers).get_indexer(s["reader"].astype(str))
    n_items, k = len(item_index), len(readers)
    if k == 0:
        return ReadingDesign((), 0, 0, (0, 0), (0, 0), 0, False, 0)
    per_reader = np.bincount(reader_codes, minlength=k)
    incidence = coo_matrix(
        (np.ones(len(s)), (reader_codes, k + item_codes)), shape=(k + n_items, k + n_items)
    )
    n_comp, labels = connected_components(incidence, directed=False)
    per_item = np.bincount(item_codes, minlength=n_items)
    return ReadingDesign(
        readers=readers,
        n_items=n_items,
        n_scores=int(len(s)),
        items_per_reader=(int(per_reader.min()), int(per_reader.max())),
        readers_per_item=(int(per_item.min()), int(per_item.max())),
        n_items_all_readers=int((per_item == k).sum()),
        complete=bool((per_item == k).all()),
        n_components=int(len(np.unique(labels[:k]))),
    )
