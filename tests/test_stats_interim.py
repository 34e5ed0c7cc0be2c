"""The Study page's agreement so far (livseg.stats.interim): each statistic uses exactly the
readers it names (issue 13 defect 7), checked against a hand ICC and the krippendorff
package on the readers that have scored."""

from __future__ import annotations

import krippendorff
import numpy as np
import pandas as pd
import pytest

from livseg.stats import interim


def _scores() -> pd.DataFrame:
    rng = np.random.default_rng(5)
    rows = []
    for reader, n_items in (("ann", 8), ("bob", 8), ("cy", 3)):  # cy has scored 3 so far
        for i in range(n_items):
            rows.append({"case": f"c{i}", "method": "m", "reader": reader, "session": 1,
                         "score": int(rng.integers(1, 6))})  # fmt: skip
    return pd.DataFrame(rows)


def _hand_icc_c1(x: np.ndarray) -> float:
    n, k = x.shape
    g = x.mean()
    msr = k * ((x.mean(axis=1) - g) ** 2).sum() / (n - 1)
    sse = ((x - x.mean(axis=1, keepdims=True) - x.mean(axis=0, keepdims=True) + g) ** 2).sum()
    mse = sse / ((n - 1) * (k - 1))
    return (msr - mse) / (msr + (k - 1) * mse)


def test_each_statistic_names_and_uses_its_readers():
    scores = _scores()
    res = interim.agreement_so_far(scores, ["ann", "bob", "cy", "dee"])
    assert res.readers_scored == ("ann", "bob", "cy") and res.readers_waiting == ("dee",)
    assert "No score yet from dee: left out." in res.note
    assert "Design so far: incomplete: 3 readers scored 3-8 of 8 items each" in res.note
    table = res.table.set_index("statistic")
    wide = scores.pivot(index="case", columns="reader", values="score")[["ann", "bob", "cy"]]
    complete = wide.dropna().to_numpy(float)  # the 3 items all three scored
    row = table.loc["ICC(C,1) consistency"]
    assert row["value"] == pytest.approx(_hand_icc_c1(complete), abs=1e-12)
    assert (row["readers"], row["items"]) == (3, 3)
    assert row["uses"] == "items scored by all 3 readers who have scored (ann, bob, cy)"
    alpha = krippendorff.alpha(reliability_data=wide.to_numpy(float).T,
                               level_of_measurement="ordinal")  # fmt: skip
    assert table.loc["Krippendorff's alpha (ordinal)", "value"] == pytest.approx(alpha)
    assert table.loc["Krippendorff's alpha (ordinal)", "items"] == 8


def test_one_reader_so_far_and_the_rereads():
    scores = _scores()
    one = interim.agreement_so_far(scores[scores.reader == "ann"], ["ann", "bob"])
    assert one.table.empty and "at least two readers" in one.note and "bob" in one.note
    assert interim.intra_reader_so_far(scores) is None
    again = scores[scores.reader == "ann"].head(4).assign(session=2, score=[1, 2, 3, 4])
    table = interim.intra_reader_so_far(pd.concat([scores, again])).set_index("reader")
    assert table.loc["ann", "n_pairs"] == 4 and table.loc["all readers (pooled)", "n_pairs"] == 4
    first = scores[scores.reader == "ann"].head(4)["score"].to_numpy()
    assert table.loc["ann", "exact_agreement"] == pytest.approx(np.mean(first == [1, 2, 3, 4]))
