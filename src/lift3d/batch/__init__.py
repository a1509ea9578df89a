"""``lift3d batch``: many products, resumably, on local processes or a Ray cluster.

:func:`read_items` reads a folder, a glob or a CSV/JSONL manifest into
:class:`BatchItem` s; :func:`run_batch` makes ``OUT/<id>/`` for each (through
:func:`process_item`, the one function the local and the Ray paths share), keeps a
ledger in ``OUT/.lift3d/`` so that a rerun resumes, and writes ``report.json`` and
``report.html``.
"""

from __future__ import annotations

from .manifest import read_items
from .run import BatchProgress, ItemResult, process_item, run_batch
from .types import BatchItem, BatchOptions, BatchReport, ItemOutcome

__all__ = ["BatchItem", "BatchOptions", "BatchProgress", "BatchReport", "ItemOutcome",
           "ItemResult", "process_item", "read_items", "run_batch"]
