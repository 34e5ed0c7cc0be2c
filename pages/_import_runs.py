"""Models page: bring another program's predictions in as runs of an external method.

Not a page itself: the form of ``db.external_runs.import_runs`` (folder on the server inside
the import root, method name, readable title, optional label mapping such as ``liver=5``),
and its report. Coordinator only; readers never see the name, title or paths.
"""

from __future__ import annotations

import re

import streamlit as st


def import_runs_section(user) -> None:
    """The import form and, after a submit, the report (imported / refused / unmatched)."""
    from db.errors import LivsegDBError
    from db.external_runs import import_runs
    from livseg.label_mapping import parse_mapping
    from livseg.workspace import import_folder, import_root
    from pages._shared import db_session

    with st.form("import_runs", clear_on_submit=False):
        folder_text = st.text_input(
            "Folder of predictions on the server",
            placeholder=str(import_root()),
            help="one file per case (.nii, .nii.gz or DICOM-SEG .dcm) named after the case "
            "(e.g. lits-007.nii.gz); optional <name>.json with seconds",
        )
        left, right = st.columns(2)
        method = left.text_input("Method name", help="short, letters / digits / '_' / '-'")
        title = right.text_input("Readable title", help="e.g. TotalSegmentator 2.4")
        labels = st.text_input(
            "Label mapping (optional)",
            placeholder="liver=5   or   liver=1 tumour=2",
            help="which values are liver / tumour; empty: a binary mask is liver, 0/1/2 as is",
        )
        submitted = st.form_submit_button("Import the runs", type="primary")
    if not submitted:
        return
    try:
        mapping = parse_mapping([t for t in re.split(r"[;\s]+", labels) if t])
        folder = import_folder(folder_text)
        with st.spinner("Checking and evaluating the predictions…"):
            with db_session() as session:
                report = import_runs(session, user, method, title or None, folder, mapping)
    except (ValueError, LivsegDBError, OSError) as exc:
        st.error(f"Nothing imported: {exc}")
        return
    if report.imported:
        st.success(f"{len(report.imported)} runs of '{report.method}' imported and evaluated.")
    else:
        st.warning("No run imported.")
    for _path, message in report.problems:
        st.error(f"Refused: {message}")
    for path in report.unmatched:
        st.warning(f"No case matches {path}")
