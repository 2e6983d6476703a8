"""``heedful report RUN``: one self-contained HTML page per run folder (no network needed to open it)."""

from heedful.report.html import ReportResult, write_report

__all__ = ["ReportResult", "write_report"]
