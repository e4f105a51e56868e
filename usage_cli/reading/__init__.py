"""Reading a query's records from the list endpoint; callers never handle a cursor.

The face is `iter_records` (and its `RecordStream`: a window, a limit, the
cursor to go on from), `Follower` for `--follow`, and `TwoEnds` for a sync
that reads the list from both ends. Below it, and no caller's concern:
`cursors` (where the list ends, refusing to loop), `chain` (a thread that
fetches ahead), `pace` (when pages are slow enough for a thread to pay).
"""

from usage_cli.reading.cursors import PageSource, iter_pages
from usage_cli.reading.stream import Batch, RecordStream, iter_records

__all__ = ["Batch", "PageSource", "RecordStream", "iter_pages", "iter_records"]
