"""The paper's significance marks: '*' against the control, '#' against a reference method."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from livseg.stats.design import pair_name


def pair_p(pvalues: Mapping[str, float], a: str, b: str) -> float:
    """p of the pair a, b whichever order the key was written in."""
    for key in (pair_name(a, b), pair_name(b, a)):
        if key in pvalues:
            return float(pvalues[key])
    raise KeyError(f"no p value for the pair {a} / {b}")


def significance_marks(
    pvalues: Mapping[str, float],
    methods: Sequence[str],
    control: str | None,
    reference: str | None,
    alpha: float = 0.05,
) -> dict[str, str]:
    """Per method: '*' if p < alpha against ``control``, '#' if p < alpha against
    ``reference`` (the control and reference themselves get no mark against themselves)."""
    marks = {}
    for m in methods:
        mark = ""
        if control is not None and m != control and pair_p(pvalues, m, control) < alpha:
            mark += "*"
        if (
            reference is not None
            and m not in (reference, control)
            and pair_p(pvalues, m, reference) < alpha
        ):
            mark += "#"
        marks[m] = mark
    return marks
