"""The coordinator's report of a reader study: tables in the paper's layout, the paired
analyses, reader agreement, lesion detection, figures and exports (HTML, Excel, JSON).

Public API: ``build_report(...) -> ReportResult`` (see ``livseg.report.build``).
"""

from livseg.report.build import ReportResult, build_report, load_seed_paper_table

__all__ = ["ReportResult", "build_report", "load_seed_paper_table"]
