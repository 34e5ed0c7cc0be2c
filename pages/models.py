"""Models screen (coordinator): import cases (NIfTI upload or a LiTS / MSD folder), run any
methods on any cases, see run times and devices. Folder imports and runs are background
jobs (``db.jobs``, ``db.catalog.import_cases``, ``db.runs.run_and_record``) whose progress
the page polls."""

from __future__ import annotations

import shutil
import uuid
from pathlib import Path

import streamlit as st

from pages._shared import COORDINATOR, db_session, engine, require_role

user = require_role(COORDINATOR)

from db import catalog, jobs  # noqa: E402
from db.errors import LivsegDBError  # noqa: E402
from livseg.io import scan_folder  # noqa: E402
from livseg.naming import is_plain_name, nifti_suffix, safe_child  # noqa: E402
from livseg.workspace import cases_dir, import_folder, import_root, runs_dir  # noqa: E402
from pages._import_runs import import_runs_section  # noqa: E402

st.title("Models")


def _validate_case(image: Path, labels: Path | None) -> str:
    """Load the files as the app will (raises with a clear message); returns a summary."""
    from livseg.io import load_labels, load_volume

    volume = load_volume(image)
    summary = f"{volume.shape[0]}x{volume.shape[1]}x{volume.shape[2]} voxels, spacing " + (
        " x ".join(f"{s:.2f}" for s in volume.spacing) + " mm"
    )
    if labels is not None:
        load_labels(labels, like=volume)
        summary += ", reference labels OK"
    return summary


def _upload_suffix(name: str, dicom: str) -> str | None:
    """Suffix to store an upload under: NIfTI's, or ``dicom`` (".zip" = a DICOM series read
    in place by ``livseg.dicom``, ".dcm" = a DICOM-SEG reference) when the name ends so."""
    return nifti_suffix(name) or (dicom if name.lower().endswith(dicom) else None)


def _as_uploaded(exc: Exception, uploaded: dict[Path, str]) -> str:
    """The error's text with each stored file (server path or internal name) shown as the
    name of the file the user uploaded: no server path reaches the page."""
    text = str(exc)
    for path, name in uploaded.items():
        for stored in (f"'{path}'", str(path), f"'{path.name}'", path.name):
            text = text.replace(stored, f"'{name}'")
    return text


@st.fragment(run_every=1.0)
def job_progress(job_id: str) -> None:
    """A running job's progress, polled each second: imports and runs work in a server
    thread (``db.jobs``), so a reload finds the job again and does not stop it."""
    running = jobs.get(job_id)
    if running is None or not running.running:
        st.rerun()  # the whole page: shows the outcome and what was recorded
    st.progress(running.fraction, text=running.phase)


# ---------------------------------------------------------------- import
st.subheader("Import cases")
upload_tab, folder_tab = st.tabs(["Upload NIfTI files", "A folder in LiTS / MSD layout"])
with upload_tab:
    with st.form("upload_case", clear_on_submit=False):
        case_name = st.text_input("Case name", help="letters, digits, '.', '_' or '-'")
        image_file = st.file_uploader(
            "CT volume (.nii or .nii.gz, or a .zip of one DICOM series)", key="upload_image"
        )
        label_file = st.file_uploader(
            "Reference label map (optional: 0/1/2; NIfTI or DICOM-SEG .dcm)", key="upload_labels"
        )
        replace = st.checkbox(
            "Replace the case of this name if it exists (refused while a study uses it)",
            key="upload_replace",
        )
        upload = st.form_submit_button("Import the case", type="primary")
    if upload:
        problems = []
        if not is_plain_name(case_name):
            problems.append(
                "The case name must be 1-64 letters, digits, '.', '_' or '-' (no spaces)."
            )
        if image_file is None:
            problems.append("Choose the CT volume file.")
        elif _upload_suffix(image_file.name, ".zip") is None:
            problems.append(
                f"'{image_file.name}' is not a NIfTI file (.nii or .nii.gz) or a .zip of a "
                "DICOM series."
            )
        if label_file is not None and _upload_suffix(label_file.name, ".dcm") is None:
            problems.append(
                f"'{label_file.name}' is not a NIfTI file (.nii or .nii.gz) or a DICOM-SEG (.dcm)."
            )
        if not problems and not replace:
            with db_session() as session:  # a name is an identity: never replaced silently
                if catalog.case_exists(session, user, case_name):
                    problems.append(
                        f"A case named '{case_name}' already exists: choose another name, or "
                        "tick 'Replace the case of this name'."
                    )
        for problem in problems:
            st.error(problem)
        if not problems:
            # a fresh folder: the files of an existing case are never touched here
            folder = safe_child(cases_dir() / "imported", f"{case_name}-{uuid.uuid4().hex[:8]}")
            folder.mkdir(parents=True)
            image_path = folder / f"volume{_upload_suffix(image_file.name, '.zip')}"
            image_path.write_bytes(image_file.getvalue())
            label_path = None
            if label_file is not None:
                label_path = folder / f"segmentation{_upload_suffix(label_file.name, '.dcm')}"
                label_path.write_bytes(label_file.getvalue())
            try:
                summary = _validate_case(image_path, label_path)
                with db_session() as session:
                    catalog.register_case(
                        session, user, case_name, image_path, label_path, replace=replace
                    )
            except (ValueError, LivsegDBError, OSError) as exc:
                shutil.rmtree(folder, ignore_errors=True)
                uploaded = {image_path: image_file.name}
                if label_path is not None:
                    uploaded[label_path] = label_file.name
                st.error(f"Not imported: {_as_uploaded(exc, uploaded)}")
            else:
                st.success(f"Case '{case_name}' imported: {summary}.")

with folder_tab:
    folder_text = st.text_input(
        "Folder on the server",
        placeholder=str(import_root()),
        help="LiTS: volume-N.nii(.gz) + segmentation-N.nii(.gz); MSD Task03: imagesTr/ + labelsTr/",
    )
    prefix = st.text_input("Case name prefix", value="", help="optional; case names = the case ids")
    import_key = f"{engine().url}#{user.id}"  # this coordinator's imports on this database
    import_job = jobs.latest("import", import_key)
    if import_job is not None and import_job.running:
        job_progress(import_job.id)
    elif st.button("Scan and import the folder"):
        try:
            found = scan_folder(import_folder(folder_text))
        except (ValueError, OSError) as exc:
            st.error(f"Cannot read the folder: {exc}")
            found = []
        if found:
            from db.engine import new_session

            bind = engine()
            entries = [(f"{prefix}{entry.case_id}", entry.image, entry.labels) for entry in found]

            def import_work(progress):
                session = new_session(bind)
                try:
                    return catalog.import_cases(session, user, entries, progress=progress)
                finally:
                    session.close()

            try:
                jobs.start(
                    "import", import_key, f"{len(entries)} cases", import_work, owner=user.id
                )
            except jobs.JobRunning as exc:
                st.warning(str(exc))
            else:
                st.rerun()
    if import_job is not None and not import_job.running:
        if import_job.status == "failed":
            st.error(f"The import stopped: {import_job.error}")
        else:
            st.success(import_job.result.summary())
            for name, reason in import_job.result.failed.items():
                st.error(f"{name}: {reason}")

st.subheader("Import another program's results")
import_runs_section(user)

# ---------------------------------------------------------------- run methods
st.subheader("Run methods")


with db_session() as session:
    cases = catalog.list_cases(session, user)
from livseg.methods import METHODS, TITLES  # noqa: E402


@st.cache_resource(show_spinner="Loading the methods…")
def method_status(names: tuple[str, ...]) -> dict[str, str]:
    """Each registered method: "ready" or why it cannot run (loaded once per server and
    per set of registered methods, so a plug-in installed later is checked too)."""
    from livseg.demo import available_methods

    usable, skipped = available_methods()
    return {name: "ready" if name in usable else skipped.get(name, "?") for name in names}


if METHODS:
    status = method_status(tuple(METHODS))
    st.dataframe(
        {
            "method": list(METHODS),
            "title": [TITLES.get(m, "") for m in METHODS],
            "status": [status[m] for m in METHODS],
        },
        hide_index=True,
    )
if not METHODS:
    st.info("No segmentation method is installed yet.")
elif cases.empty:
    st.info("Import cases first.")
else:
    ready = [m for m in METHODS if status.get(m) == "ready"]
    chosen_methods = st.multiselect(
        "Methods",
        list(METHODS),
        default=ready,
        format_func=lambda m: f"{m} — {TITLES[m]}" if TITLES.get(m) else m,
    )
    chosen_cases = st.multiselect("Cases", list(cases["name"]), default=list(cases["name"])[:1])
    run_key = f"{engine().url}#{user.id}"  # this coordinator's runs on this database
    run_job = jobs.latest("runs", run_key)
    if run_job is not None and run_job.running:
        job_progress(run_job.id)
    elif st.button("Run", type="primary", disabled=not (chosen_methods and chosen_cases)):
        from db.engine import new_session
        from db.runs import run_and_record

        bind, runs_at = engine(), runs_dir()
        methods_chosen, cases_chosen = list(chosen_methods), list(chosen_cases)

        def work(progress):
            session = new_session(bind)
            try:
                return run_and_record(
                    session, user, cases_chosen, methods_chosen, runs_at, progress=progress
                )
            finally:
                session.close()

        total = len(methods_chosen) * len(cases_chosen)
        try:
            jobs.start("runs", run_key, f"{total} runs", work, owner=user.id)
        except jobs.JobRunning as exc:
            st.warning(str(exc))
        else:
            st.rerun()
    if run_job is not None and not run_job.running:
        if run_job.status == "failed":
            st.error(f"The runs stopped: {run_job.error}")
        else:
            outcome = run_job.result
            st.success(outcome.summary())
            for (case_name, method), reason in outcome.failed.items():
                st.error(f"{method} on {case_name}: {reason}")

# ---------------------------------------------------------------- runs
st.subheader("Runs")
with db_session() as session:
    runs = catalog.list_runs(session, user)
if runs.empty:
    st.caption("No run yet.")
else:
    summary = (
        runs.groupby(["method", "device"])["seconds"]
        .agg(["count", "median", "mean", "max"])
        .rename(columns={"count": "runs", "median": "median s", "mean": "mean s", "max": "max s"})
    )
    st.dataframe(summary.round(2))
    shown = runs[["case", "method", "seconds", "device", "method_version", "created_at"]]
    st.dataframe(shown, hide_index=True)
