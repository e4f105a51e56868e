"""The defaults of `--timeout` and `--retries`, which help shows: apart from `settings`
(its dataclass alone was about 1 ms of `usage CMD --help`), as `paging` is from `query`."""

from __future__ import annotations

DEFAULT_RETRIES = 5
DEFAULT_TIMEOUT = 30.0
