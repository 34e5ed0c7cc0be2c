"""Study creation: design, seeded order without same-case neighbours, codes, bad input."""

from __future__ import annotations

import json
import re
from collections import Counter

import numpy as np
import pytest
from sqlalchemy import text

from db import studies
from db.blinding import spread_order
from db.engine import session_scope
from db.errors import AccessDenied, InvalidInput, NotFound, StudyStateError
from tests.db_support import METHODS, backend_params, open_test_engine, populate


@pytest.fixture(params=backend_params())
def db_engine(request, monkeypatch):
    yield from open_test_engine(request.param, monkeypatch)


def _assignments(engine, study_id):
    sql = text(
        "SELECT u.username AS reader, a.id AS aid, a.position, a.session_number AS session, "
        "c.name AS case_name, m.name AS method, a.code AS code, i.code AS item_code, "
        "i.id AS item_id FROM assignments a JOIN users u ON u.id = a.reader_id "
        "JOIN items i ON i.id = a.item_id JOIN cases c ON c.id = i.case_id "
        "JOIN methods m ON m.id = i.method_id WHERE a.study_id = :s "
        "ORDER BY u.username, a.position"
    )
    with engine.connect() as conn:
        return [dict(r) for r in conn.execute(sql, {"s": study_id}).mappings()]


def _by_reader(rows):
    out = {}
    for row in rows:
        out.setdefault(row["reader"], []).append(row)
    return out


def _same_case_neighbours(rows) -> int:
    return sum(a["case_name"] == b["case_name"] for a, b in zip(rows, rows[1:], strict=False))


def test_default_design_every_reader_every_item_in_her_own_order(db_engine):
    setup = populate(db_engine, n_cases=30, n_readers=3, seed=20260101)
    rows = _assignments(db_engine, setup.study_id)
    per_reader = _by_reader(rows)
    assert sorted(per_reader) == ["r00", "r01", "r02"]
    expected = {(c, m) for c in setup.cases for m in METHODS}
    orders = []
    for reader_rows in per_reader.values():
        assert [r["position"] for r in reader_rows] == list(range(1, 121))
        assert {(r["case_name"], r["method"]) for r in reader_rows} == expected
        assert all(r["session"] == 1 for r in reader_rows)
        assert _same_case_neighbours(reader_rows) == 0
        # assignment ids follow the reading order only
        assert [r["aid"] for r in reader_rows] == sorted(r["aid"] for r in reader_rows)
        orders.append([(r["case_name"], r["method"]) for r in reader_rows])
    assert orders[0] != orders[1] != orders[2] != orders[0]
    # methods are spread over the order, not clustered (first 40 hold every method)
    assert all({m for _, m in order[:40]} == set(METHODS) for order in orders)


def test_order_is_reproducible_from_the_recorded_seed(db_engine):
    setup = populate(db_engine, n_cases=6, n_readers=2, seed=7)
    with session_scope(db_engine) as s:
        info = studies.get_study(s, setup.coordinator, setup.study_id)
        assert info.seed == 7
        # the same design again with the recorded seed, and once with another seed
        again, other = (
            studies.create_study(
                s,
                setup.coordinator,
                name,
                cases=setup.cases,
                methods=setup.methods,
                readers=["r00", "r01"],
                seed=seed,
            )
            for name, seed in (("Again", 7), ("Other", 8))
        )

    def orders(study_id):
        return {
            k: [(r["case_name"], r["method"]) for r in v]
            for k, v in _by_reader(_assignments(db_engine, study_id)).items()
        }

    assert orders(again) == orders(setup.study_id)
    assert orders(other) != orders(setup.study_id)
    # the codes are not derived from the seed
    first = {r["code"] for r in _assignments(db_engine, setup.study_id)}
    assert first.isdisjoint({r["code"] for r in _assignments(db_engine, again)})


def test_codes_are_random_and_unique(db_engine):
    setup = populate(db_engine, n_cases=30, n_readers=2, seed=3)
    rows = _assignments(db_engine, setup.study_id)
    codes = [r["code"] for r in rows]
    item_codes = {r["item_id"]: r["item_code"] for r in rows}
    assert len(set(codes)) == len(codes)
    assert len(set(item_codes.values())) == len(item_codes)
    assert set(codes).isdisjoint(item_codes.values())
    pattern = re.compile(r"^[2-9A-HJKMNP-Z]{4}-[2-9A-HJKMNP-Z]{4}$")
    assert all(pattern.match(c) for c in codes)
    # sorted by code, each method's items do NOT form one contiguous block (as sequential
    # per-method codes would); chance of that for random codes is ~1e-60
    method_of = {r["item_code"]: r["method"] for r in rows}
    sorted_methods = [method_of[c] for c in sorted(method_of)]
    runs = 1 + sum(a != b for a, b in zip(sorted_methods, sorted_methods[1:], strict=False))
    assert runs > 4 * 5


@pytest.mark.parametrize(
    ("counts", "previous", "expected"),
    [
        ((4,), None, 3),  # one case, four methods: no other choice
        ((3, 1), None, 1),
        ((2, 2), None, 0),
        ((5, 1, 1), None, 2),
        ((3, 3, 3, 3), None, 0),
        ((1, 1), "g0", 0),
        ((2, 1), "g0", 1),  # g0 must come first after g0 ... or be adjacent: 1 at best
    ],
)
def test_spread_order_has_the_minimum_of_same_case_neighbours(counts, previous, expected):
    entries, groups = [], []
    for g, n in enumerate(counts):
        for k in range(n):
            entries.append((f"g{g}", k))
            groups.append(f"g{g}")
    for seed in range(20):
        order = spread_order(entries, groups, np.random.default_rng(seed), previous_group=previous)
        assert sorted(order) == sorted(entries)
        chain = ([previous] if previous else []) + [g for g, _ in order]
        assert sum(a == b for a, b in zip(chain, chain[1:], strict=False)) == expected


def test_spread_order_random_sizes_match_the_bound():
    rng = np.random.default_rng(1)
    for _ in range(200):
        counts = rng.integers(1, 6, size=rng.integers(1, 6))
        groups = [g for g, n in enumerate(counts) for _ in range(n)]
        order = spread_order(list(range(len(groups))), groups, rng)
        seq = [groups[i] for i in order]
        m, total = max(counts), sum(counts)
        assert sum(a == b for a, b in zip(seq, seq[1:], strict=False)) == max(0, 2 * m - total - 1)


def test_subset_of_cases_per_reader_is_balanced(db_engine):
    setup = populate(
        db_engine,
        n_cases=6,
        methods=("unet2d", "classical"),
        n_readers=3,
        cases_per_reader=2,
        seed=11,
    )
    per_reader = _by_reader(_assignments(db_engine, setup.study_id))
    coverage = Counter()
    for rows in per_reader.values():
        cases = {r["case_name"] for r in rows}
        assert len(cases) == 2 and len(rows) == 4  # 2 cases x 2 methods
        assert Counter(r["case_name"] for r in rows) == dict.fromkeys(cases, 2)
        assert _same_case_neighbours(rows) == 0
        coverage.update(cases)
    assert coverage == dict.fromkeys(setup.cases, 1)  # 3 x 2 = 6 slots over 6 cases


def test_second_session_rereads_a_random_subset_with_new_codes(db_engine):
    setup = populate(
        db_engine, n_cases=4, n_readers=2, retest_fraction=0.25, washout_days=21, seed=5
    )
    for rows in _by_reader(_assignments(db_engine, setup.study_id)).values():
        first = [r for r in rows if r["session"] == 1]
        second = [r for r in rows if r["session"] == 2]
        assert len(first) == 16 and len(second) == 4
        assert [r["position"] for r in second] == [17, 18, 19, 20]
        first_items = {r["item_id"]: r["code"] for r in first}
        assert {r["item_id"] for r in second} <= set(first_items)
        assert len({r["item_id"] for r in second}) == 4
        assert all(r["code"] != first_items[r["item_id"]] for r in second)
        assert _same_case_neighbours(rows) == 0
    with session_scope(db_engine) as s:
        info = studies.get_study(s, setup.coordinator, setup.study_id)
    assert (info.washout_days, info.retest_fraction, info.n_assignments) == (21.0, 0.25, 40)


def _study_count(engine) -> int:
    with engine.connect() as conn:
        return conn.execute(text("SELECT COUNT(*) FROM studies")).scalar_one()


@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [
        ({"cases": ["case_000", "nope"]}, NotFound, "Unknown case"),
        ({"methods": ["unet2d", "magic"]}, NotFound, "Unknown method"),
        ({"readers": ["r00", "ghost"]}, NotFound, "Unknown reader"),
        ({"readers": ["coord"]}, InvalidInput, "not a reader"),
        ({"cases": ["case_000", "case_000"]}, InvalidInput, "chosen twice"),
        ({"readers": ["r00", "R00"]}, InvalidInput, "chosen twice"),
        ({"cases": []}, InvalidInput, "at least one case"),
        ({"cases": "case_000"}, InvalidInput, "at least one case"),
        ({"anchors": {"1": "a", "2": "b"}}, InvalidInput, "each score"),
        ({"anchors": {str(k): "" for k in range(1, 6)}}, InvalidInput, "non-empty"),
        ({"retest_fraction": 1.5}, InvalidInput, "retest_fraction"),
        ({"washout_days": -1}, InvalidInput, "washout_days"),
        ({"washout_days": "two weeks"}, InvalidInput, "washout_days"),
        ({"cases_per_reader": 0}, InvalidInput, "cases_per_reader"),
        ({"cases_per_reader": 3}, InvalidInput, "cases_per_reader"),
        ({"edit_policy": "sometimes"}, InvalidInput, "edit_policy"),
        ({"seed": -4}, InvalidInput, "seed"),
        ({"name": "Pilot"}, InvalidInput, "already exists"),
        ({"name": "  "}, InvalidInput, "study name"),
        ({"name": "UNet2D vs classical"}, InvalidInput, "names the method 'unet2d'"),
        ({"question": "Is the Classical result usable?"}, InvalidInput, "question is shown"),
        (
            {"anchors": {**{str(k): "ok" for k in range(1, 5)}, "5": "as good as unet2d"}},
            InvalidInput,
            "anchor 5 is shown to readers",
        ),
    ],
)
def test_bad_study_input_is_refused_and_nothing_written(db_engine, kwargs, error, message):
    setup = populate(db_engine, n_cases=2, methods=("unet2d", "classical"), n_readers=1)
    args = {
        "name": "Second",
        "cases": setup.cases,
        "methods": setup.methods,
        "readers": ["r00"],
        **kwargs,
    }
    name = args.pop("name")
    with session_scope(db_engine) as s, pytest.raises(error, match=message):
        studies.create_study(s, setup.coordinator, name, **args)
    assert _study_count(db_engine) == 1


def test_missing_run_and_reader_role_and_status_transitions(db_engine):
    from db import catalog
    from db.access import SYSTEM

    setup = populate(db_engine, n_cases=1, methods=("unet2d",), n_readers=1, open_it=False)
    with session_scope(db_engine) as s:
        catalog.register_method(s, SYSTEM, "newnet")
        with pytest.raises(
            InvalidInput, match="No segmentation run for 1 case x method: case_000 x newnet"
        ):
            studies.create_study(
                s,
                setup.coordinator,
                "X",
                cases=setup.cases,
                methods=["unet2d", "newnet"],
                readers=["r00"],
            )
        with pytest.raises(AccessDenied):
            studies.create_study(
                s, setup.readers[0], "X", cases=setup.cases, methods=["unet2d"], readers=["r00"]
            )
        for call in (studies.open_study, studies.close_study, studies.get_study):
            with pytest.raises(AccessDenied):
                call(s, setup.readers[0], setup.study_id)
        with pytest.raises(StudyStateError, match="only an open study can be closed"):
            studies.close_study(s, setup.coordinator, setup.study_id)
        studies.open_study(s, setup.coordinator, setup.study_id)
        with pytest.raises(StudyStateError, match="only a draft study can be opened"):
            studies.open_study(s, setup.coordinator, setup.study_id)
        studies.close_study(s, setup.coordinator, setup.study_id)
        with pytest.raises(NotFound):
            studies.open_study(s, setup.coordinator, 999)
        listing = studies.list_studies(s, setup.coordinator)
    assert list(listing["status"]) == ["closed"]
    assert _study_count(db_engine) == 1


# ---------------------------------------------------------------- adding a reader, deleting


def _rows(engine, sql: str, **params) -> list[tuple]:
    with engine.connect() as conn:
        return [tuple(r) for r in conn.execute(text(sql), params)]


def _order(engine, study_id, reader) -> list[tuple]:
    """(session, case, method) of a reader's assignments by position, in plain SQL."""
    return _rows(
        engine,
        "SELECT a.session_number, c.name, m.name FROM assignments a "
        "JOIN users u ON u.id = a.reader_id JOIN items i ON i.id = a.item_id "
        "JOIN cases c ON c.id = i.case_id JOIN methods m ON m.id = i.method_id "
        "WHERE a.study_id = :s AND u.username = :r ORDER BY a.position",
        s=study_id,
        r=reader,
    )


def _others(engine, study_id) -> list[tuple]:
    return _rows(
        engine,
        "SELECT a.id, a.reader_id, a.item_id, a.session_number, a.position, a.code, "
        "s.id, s.value, s.comment FROM assignments a LEFT JOIN scores s "
        "ON s.assignment_id = a.id WHERE a.study_id = :s ORDER BY a.id",
        s=study_id,
    )


@pytest.mark.parametrize(
    "design",
    [
        {},
        {"cases_per_reader": 2},
        {"retest_fraction": 0.25, "washout_days": 7.0},
    ],
    ids=["all-items", "subset", "washout"],
)
def test_added_reader_gets_the_order_create_study_gives_her_index(db_engine, design):
    from db import auth

    setup = populate(db_engine, n_cases=5, n_readers=2, open_it=False, seed=31)
    # cases and methods chosen in an order that is not their id order
    cases = list(reversed(setup.cases))
    methods = ["classical", "unet3d", "unet2d", "attention_unet"]
    with session_scope(db_engine) as s:
        for name in ("r09", "r10"):
            auth.create_reader(s, setup.coordinator, name)
        base = studies.create_study(
            s, setup.coordinator, "Base", cases=cases, methods=methods,
            readers=["r00", "r01"], seed=31, **design,
        )  # fmt: skip
        studies.open_study(s, setup.coordinator, base)
    # r00 scores her first two items (plain SQL): they must stay as they are
    with db_engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO scores (assignment_id, value, seconds_spent, revision, created_at, "
                "updated_at) SELECT a.id, 4, 2.0, 1, CURRENT_TIMESTAMP, CURRENT_TIMESTAMP "
                "FROM assignments a JOIN users u ON u.id = a.reader_id "
                "WHERE a.study_id = :s AND u.username = 'r00' AND a.position <= 2"
            ),
            {"s": base},
        )
    before = _others(db_engine, base)
    assert sum(r[6] is not None for r in before) == 2
    with session_scope(db_engine) as s:
        added = [studies.add_reader(s, setup.coordinator, base, name) for name in ("r09", "R10 ")]
        reference = studies.create_study(
            s, setup.coordinator, "Reference", cases=cases, methods=methods,
            readers=["r00", "r01", "r09", "r10"], seed=31, **design,
        )  # fmt: skip

    per_reader = 5 * 4 if "cases_per_reader" not in design else 2 * 4
    n_retest = round(design.get("retest_fraction", 0) * per_reader)
    assert added == [per_reader + n_retest] * 2
    for index, name in ((2, "r09"), (3, "r10")):
        order = _order(db_engine, base, name)
        # exactly what create_study gives the reader at this index with the same seed
        assert order == _order(db_engine, reference, name)
        assert len(order) == added[index - 2]
        first = [(c, m) for k, c, m in order if k == 1]
        assert len(first) == len(set(first)) == per_reader
        case_set = {c for c, _ in first}
        assert set(first) == {(c, m) for c in case_set for m in methods}
        if "cases_per_reader" not in design:
            assert case_set == set(cases)
        assert sum(a[1] == b[1] for a, b in zip(order, order[1:], strict=False)) == 0
        assert [k for k, _, _ in order] == [1] * per_reader + [2] * n_retest
        assert {(c, m) for k, c, m in order if k == 2} <= set(first)
        positions = _rows(
            db_engine,
            "SELECT a.position, a.id FROM assignments a JOIN users u ON u.id = a.reader_id "
            "WHERE a.study_id = :s AND u.username = :r ORDER BY a.position",
            s=base,
            r=name,
        )
        assert [p for p, _ in positions] == list(range(1, len(order) + 1))
        assert [i for _, i in positions] == sorted(i for _, i in positions)
    if "cases_per_reader" in design:  # the windows go on: 8 case slots over 5 cases
        covered = Counter(
            c for r in ("r00", "r01", "r09", "r10") for k, c, m in _order(db_engine, base, r)
        )
        assert sorted(covered.values()) == [4, 4, 8, 8, 8]  # x 4 methods
    codes = [
        r[0] for r in _rows(db_engine, "SELECT code FROM assignments WHERE study_id = :s", s=base)
    ]
    item_codes = {
        r[0] for r in _rows(db_engine, "SELECT code FROM items WHERE study_id = :s", s=base)
    }
    assert len(codes) == len(set(codes)) == len(before) + sum(added)
    assert set(codes).isdisjoint(item_codes)
    assert _others(db_engine, base)[: len(before)] == before  # others untouched
    assert _rows(
        db_engine,
        "SELECT u.username FROM study_readers sr JOIN users u ON u.id = sr.reader_id "
        "WHERE sr.study_id = :s ORDER BY u.username",
        s=base,
    ) == [("r00",), ("r01",), ("r09",), ("r10",)]
    events = _rows(
        db_engine,
        "SELECT action FROM audit_events WHERE entity = 'study' AND entity_id = :s "
        "AND action = 'study.add_reader'",
        s=base,
    )
    assert len(events) == 2


def test_add_reader_refusals_write_nothing(db_engine):
    from db import auth

    setup = populate(db_engine, n_cases=2, methods=("unet2d", "classical"), n_readers=2)
    with session_scope(db_engine) as s:
        auth.create_reader(s, setup.coordinator, "gone")
        auth.set_active(s, setup.coordinator, "gone", False)
        auth.create_reader(s, setup.coordinator, "late")
    counts = "SELECT (SELECT COUNT(*) FROM assignments), (SELECT COUNT(*) FROM study_readers)"
    before = _rows(db_engine, counts)
    sid = setup.study_id
    with session_scope(db_engine) as s:
        for username, error, message in (
            ("ghost", NotFound, "Unknown reader"),
            ("gone", InvalidInput, "deactivated"),
            ("coord", InvalidInput, "not a reader"),
            ("r01", InvalidInput, "already reads"),
            ("", InvalidInput, "Choose a reader"),
        ):
            with pytest.raises(error, match=message):
                studies.add_reader(s, setup.coordinator, sid, username)
        with pytest.raises(AccessDenied):
            studies.add_reader(s, setup.readers[0], sid, "late")
        with pytest.raises(NotFound):
            studies.add_reader(s, setup.coordinator, 999, "late")
        studies.close_study(s, setup.coordinator, sid)
        with pytest.raises(StudyStateError, match="closed"):
            studies.add_reader(s, setup.coordinator, sid, "late")
    assert _rows(db_engine, counts) == before


def test_delete_draft_study_removes_its_rows_and_refuses_open_or_closed(db_engine):
    setup = populate(db_engine, n_cases=3, methods=("unet2d", "classical"), n_readers=2)
    from db import auth

    with session_scope(db_engine) as s:
        auth.create_reader(s, setup.coordinator, "late")
        draft = studies.create_study(
            s, setup.coordinator, "Mistake", cases=setup.cases, methods=setup.methods,
            readers=["r00", "r01"], retest_fraction=0.5,
        )  # fmt: skip
        studies.add_reader(s, setup.coordinator, draft, "late")  # a draft takes readers too
    per_table = (
        "SELECT (SELECT COUNT(*) FROM assignments WHERE study_id = :s), "
        "(SELECT COUNT(*) FROM items WHERE study_id = :s), "
        "(SELECT COUNT(*) FROM study_readers WHERE study_id = :s), "
        "(SELECT COUNT(*) FROM studies WHERE id = :s)"
    )
    assert _rows(db_engine, per_table, s=draft) == [(3 * 9, 6, 3, 1)]
    pilot_before = _rows(db_engine, per_table, s=setup.study_id)
    with session_scope(db_engine) as s:
        with pytest.raises(AccessDenied):
            studies.delete_draft_study(s, setup.readers[0], draft)
        studies.delete_draft_study(s, setup.coordinator, draft)
        with pytest.raises(NotFound):
            studies.delete_draft_study(s, setup.coordinator, draft)
        with pytest.raises(StudyStateError, match="only a draft study can be deleted"):
            studies.delete_draft_study(s, setup.coordinator, setup.study_id)  # open
        studies.close_study(s, setup.coordinator, setup.study_id)
        with pytest.raises(StudyStateError, match="closed: only a draft"):
            studies.delete_draft_study(s, setup.coordinator, setup.study_id)
    assert _rows(db_engine, per_table, s=draft) == [(0, 0, 0, 0)]
    assert _rows(db_engine, per_table, s=setup.study_id) == pilot_before == [(2 * 6, 6, 2, 1)]
    [(action, entity_id)] = _rows(
        db_engine, "SELECT action, entity_id FROM audit_events WHERE action = 'study.delete'"
    )
    assert entity_id == draft


def _connected_components(case_sets: list[set[str]]) -> int:
    """Groups of readers linked through shared cases (scipy's graph components)."""
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components

    cases = sorted(set().union(*case_sets))
    k = len(case_sets)
    rows = [r for r, s in enumerate(case_sets) for _ in s]
    cols = [k + cases.index(c) for s in case_sets for c in s]
    graph = coo_matrix(([1] * len(rows), (rows, cols)), shape=(k + len(cases),) * 2)
    _, labels = connected_components(graph, directed=False)
    return len(set(labels[:k]))


def test_subset_design_of_4_readers_x_2_of_4_cases_is_connected_and_balanced(db_engine):
    """Issue 15: consecutive windows split these readers into two groups sharing no case."""
    setup = populate(
        db_engine, n_cases=4, methods=("unet2d", "classical"), n_readers=4,
        cases_per_reader=2, seed=11,
    )  # fmt: skip
    per_reader = _by_reader(_assignments(db_engine, setup.study_id))
    case_sets = [{r["case_name"] for r in rows} for rows in per_reader.values()]
    assert all(len(s) == 2 for s in case_sets)
    assert Counter(c for s in case_sets for c in s) == dict.fromkeys(setup.cases, 2)
    assert _connected_components(case_sets) == 1
    # reader pairs overlap as evenly as 4 x 2 of 4 allows: four pairs share 1 case, two none
    overlaps = sorted(len(a & b) for i, a in enumerate(case_sets) for b in case_sets[i + 1 :])
    assert overlaps == [0, 0, 1, 1, 1, 1]


@pytest.mark.parametrize("n_cases", [5, 6, 7, 9, 12])
def test_subset_designs_are_balanced_and_connected_whenever_possible(n_cases):
    from db.blinding import connected_subset

    for k in range(1, n_cases):
        sets: list[set[int]] = []
        for n_readers in range(1, 11):
            sets.append(set(connected_subset(n_cases, k, sets)))
            assert all(len(s) == k for s in sets)
            reads = Counter(c for s in sets for c in s)
            counts = [reads.get(c, 0) for c in range(n_cases)]
            assert max(counts) - min(counts) <= 1, (n_cases, k, n_readers)
            read = min(n_cases, n_readers * k)
            if n_readers * k >= read + n_readers - 1:  # a spanning tree's edges are there
                named = [{str(c) for c in s} for s in sets]
                assert _connected_components(named) == 1, (n_cases, k, n_readers)


def test_rereads_are_spread_over_the_methods_and_cases(db_engine):
    """Each reader re-reads 1 item of each of the 4 methods, of 4 different cases (a random
    draw of 4 of her 20 items does that with probability ~ 0.07 per reader)."""
    setup = populate(db_engine, n_cases=5, n_readers=3, retest_fraction=0.2, seed=41)
    with session_scope(db_engine) as s:
        for seed in (42, 43, 44):
            studies.create_study(
                s, setup.coordinator, f"Again {seed}", cases=setup.cases,
                methods=setup.methods, readers=["r00", "r01", "r02"], retest_fraction=0.2,
                seed=seed,
            )  # fmt: skip
        ids = [studies.study_id_by_name(s, setup.coordinator, n) for n in ("Pilot", "Again 42")]
        ids += [studies.study_id_by_name(s, setup.coordinator, f"Again {k}") for k in (43, 44)]
        assert studies.get_study(s, setup.coordinator, ids[0]).n_retest == 3 * 4
    for study_id in ids:
        for rows in _by_reader(_assignments(db_engine, study_id)).values():
            second = [r for r in rows if r["session"] == 2]
            assert Counter(r["method"] for r in second) == dict.fromkeys(METHODS, 1)
            assert len({r["case_name"] for r in second}) == 4


def test_rereads_split_unevenly_over_methods_only_by_one(db_engine):
    setup = populate(db_engine, n_cases=6, methods=("unet2d", "classical"), n_readers=2,
                     retest_fraction=0.25, seed=8)  # fmt: skip
    for rows in _by_reader(_assignments(db_engine, setup.study_id)).values():
        second = [r for r in rows if r["session"] == 2]
        assert len(second) == 3  # 0.25 x 12 items
        assert sorted(Counter(r["method"] for r in second).values()) == [1, 2]
        assert len({r["case_name"] for r in second}) == 3


def test_a_fraction_giving_no_reread_is_refused_with_the_number_it_gives(db_engine):
    setup = populate(db_engine, n_cases=3, n_readers=2)  # 12 items per reader
    before = _study_count(db_engine)
    with session_scope(db_engine) as s:
        with pytest.raises(
            InvalidInput, match=r"0\.04 of 12 items .* 0\.48 re-reads, rounded to 0"
        ):
            studies.create_study(
                s, setup.coordinator, "Tiny retest", cases=setup.cases,
                methods=setup.methods, readers=["r00"], retest_fraction=0.04,
            )  # fmt: skip
        # 2.5 re-reads round half up to 3 (Python's round() would give 2)
        sid = studies.create_study(
            s, setup.coordinator, "Half up", cases=setup.cases[:2], methods=setup.methods[:2],
            readers=["r00"], retest_fraction=0.625,
        )  # fmt: skip
        assert studies.get_study(s, setup.coordinator, sid).n_retest == 3  # 2.5 -> 3
    assert _study_count(db_engine) == before + 1


def test_a_washout_under_one_day_needs_a_confirmation(db_engine):
    setup = populate(db_engine, n_cases=2, n_readers=1)
    options = dict(cases=setup.cases, methods=setup.methods, readers=["r00"],
                   retest_fraction=0.25)  # fmt: skip
    with session_scope(db_engine) as s:
        with pytest.raises(InvalidInput, match="Confirm the short washout"):
            studies.create_study(s, setup.coordinator, "Quick", washout_days=0.5, **options)
        sid = studies.create_study(
            s, setup.coordinator, "Quick", washout_days=0.5, confirm_short_washout=True,
            **options,
        )  # fmt: skip
        assert studies.get_study(s, setup.coordinator, sid).washout_days == 0.5
        # no washout session: nothing to confirm
        studies.create_study(
            s, setup.coordinator, "No retest", cases=setup.cases, methods=setup.methods,
            readers=["r00"], washout_days=0,
        )  # fmt: skip
    audit = _rows(
        db_engine,
        "SELECT after FROM audit_events WHERE action = 'study.create' AND entity_id = :s",
        s=sid,
    )
    after = audit[0][0] if isinstance(audit[0][0], dict) else json.loads(audit[0][0])
    assert after["short_washout_confirmed"] is True  # JSON on PostgreSQL, text on SQLite


def test_a_reader_added_to_a_study_made_with_the_old_windows_links_its_groups(
    db_engine, monkeypatch
):
    """A study created before the connected design (consecutive windows: 3 readers x 2 of 4
    cases gave {a, b}, {c, d}, {a, b}) keeps working: add_reader reads the stored case sets
    and gives the new reader cases that link the two groups (the old rule, and perfect
    balance, would give {c, d} again)."""

    def windows(case_ids, cases_per_reader, seed, previous=()):
        rng = np.random.default_rng([seed, 2**32 - 2])
        shuffled = [case_ids[i] for i in rng.permutation(len(case_ids))]
        index = len(previous)
        n = len(shuffled)
        return [shuffled[(index * cases_per_reader + j) % n] for j in range(cases_per_reader)]

    setup = populate(db_engine, n_cases=4, methods=("unet2d", "classical"), n_readers=3,
                     open_it=False, study_name="Other")  # fmt: skip
    from db import auth

    with session_scope(db_engine) as s:
        auth.create_reader(s, setup.coordinator, "late")
        monkeypatch.setattr(studies, "_reader_cases", windows)
        old = studies.create_study(
            s, setup.coordinator, "Legacy", cases=setup.cases, methods=setup.methods,
            readers=["r00", "r01", "r02"], cases_per_reader=2, seed=3,
        )  # fmt: skip
        monkeypatch.undo()
        before = [{r["case_name"] for r in rows} for rows in
                  _by_reader(_assignments(db_engine, old)).values()]  # fmt: skip
        assert _connected_components(before) == 2  # the old layout
        assert studies.add_reader(s, setup.coordinator, old, "late") == 4
    after = _by_reader(_assignments(db_engine, old))
    sets = [{r["case_name"] for r in rows} for rows in after.values()]
    assert [{r["case_name"] for r in after[n]} for n in ("r00", "r01", "r02")] == before
    assert _connected_components(sets) == 1
    # linking comes first: one case read 3 times, one once (balance would need {c, d})
    assert sorted(Counter(c for s_ in sets for c in s_).values()) == [1, 2, 2, 3]


def test_subset_study_read_to_the_end_has_computable_agreement(db_engine):
    """Issue 15 "done when": 4 readers x 2 of 4 cases, every item scored through the
    reading API; no item is scored by every reader (no classic ICC), yet the crossed-model
    ICC and Krippendorff's alpha are computed from every score."""
    from db import export, reading
    from livseg.report.results import compute_results
    from livseg.stats.reading_design import reading_design

    setup = populate(db_engine, n_cases=4, methods=("unet2d", "classical"), n_readers=4,
                     cases_per_reader=2, seed=23)  # fmt: skip
    rng = np.random.default_rng(0)
    with session_scope(db_engine) as s:
        for reader in setup.readers:
            while (item := reading.next_item(s, reader)) is not None:
                reading.submit_score(s, reader, item.assignment_id, int(rng.integers(1, 6)))
        scores = export.scores_long(s, setup.coordinator, setup.study_id)
    assert len(scores) == 4 * 2 * 2
    layout = reading_design(scores)
    assert layout.connected and not layout.complete and layout.n_items_all_readers == 0
    metrics = scores[["case", "method"]].drop_duplicates().assign(DSC=0.8)
    metrics["DSC"] += np.arange(len(metrics)) / 100
    nc: dict[str, str] = {}
    res = compute_results(
        metrics, scores[["case", "method", "reader", "session", "score"]],
        ordinal_models=False, not_computable=nc,
    )  # fmt: skip
    assert "icc/all" in nc
    assert res["icc_crossed/all/n_scores"] == 16 and res["icc_crossed/all/n_readers"] == 4
    assert -1 <= res["icc_crossed/all/value"] <= 1
    assert "kripp_alpha/all/ordinal" in res
