"""What `usage verify` proved: each report says which, and `verify -o json` names it."""

from typing import Literal

Kind = Literal["file", "folder", "series", "archive"]
