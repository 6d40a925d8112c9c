"""FOCUS 1.0-1.2 cost and usage files from local folders, S3 and GCS prefixes.

Each new or changed file is one raw partition (its URI), one record per FOCUS row under the
1.2 column names; a file that cannot be read whole is refused and its earlier rows are kept
(see orchestration/clients/focus.py and orchestration/collectors/files.py).
"""

from orchestration.clients.focus import IMPORT_KEY, read_focus
from orchestration.collectors.files import DeliveredFile, file_collector


@file_collector(
    source="focus",
    table="focus_rows",
    natural_key=(f"{IMPORT_KEY}.file", f"{IMPORT_KEY}.row"),
)
def focus_rows(file: DeliveredFile):
    """FOCUS rows of every delivered export file, one record per row, keyed by file and row."""
    yield from read_focus(file)
