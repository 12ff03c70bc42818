"""The profiler: what the differentiation did with each operation, what it cost, and where.

``profile(f, *args)`` runs a gradient under instrumentation and returns a ``Report``;
``with profiling() as prof:`` collects one per ``mixedad.gradient`` call. Reports print as
tables (``str``), serialise to a versioned JSON schema (``to_json``) and render as a
self-contained HTML page (``to_html``). ``python -m mixedad.profiler script.py:function``
profiles from the command line. The engine decides and records; this package only reads.
"""
from .report import (SCHEMA_VERSION, EntryReport, FunctionLines, LineReport, LineStat, Report, Summary,
                     aggregate, entries_from_trace, report_from_trace)
from .session import Profiling, profile, profiling

__all__ = ["profile", "profiling", "Profiling", "Report", "EntryReport", "Summary", "LineReport",
           "LineStat", "FunctionLines", "aggregate", "entries_from_trace", "report_from_trace",
           "SCHEMA_VERSION"]
