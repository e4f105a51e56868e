"""`usage export`: every matching record, exactly once, or nothing at the target.

One run at a time per target: the plan takes an exclusive lock beside it
before looking at anything else, and a second run is refused naming the first.
Records go to a hidden partial file beside the target, a page at a time. About
once a second, and always when the export stops early, the partial is fsynced
and a checkpoint records how many bytes of it are whole pages, their sha256
and the cursor that follows them; `--resume` checks the partial still holds
those bytes, truncates it to that point and continues from that cursor. Only
a complete file is renamed onto the target, after its manifest is in place.

    with plan_export(path, fmt, force=..., resume=..., now=...) as plan:  # no request yet
        manifest = plan.run(client, query, api_root=..., stdout=..., now=...)

`usage_cli.export._partitioned.plan_partitioned` does the same for a folder of
Hive-style parts (`--partition day|month`); it is imported only by such an export.
`open_plan` picks one of the two, and both are a `Plan`.
"""

from __future__ import annotations

from usage_cli._files import sha256_of
from usage_cli.export._checkpoint import CHECKPOINT_VERSION, Checkpoint
from usage_cli.export._json import ChainJson, WindowJson
from usage_cli.export._manifest import Manifest, SetManifest
from usage_cli.export._open import Plan, open_plan
from usage_cli.export._partial import PartialFile
from usage_cli.export._plan import ExportPlan, plan_export
from usage_cli.export._run import CHECKPOINT_EVERY, Progress
from usage_cli.export._target import (
    EXTENSIONS,
    Stdout,
    Target,
    format_of,
    manifest_path,
    resolve_target,
)

__all__ = [
    "CHECKPOINT_EVERY",
    "CHECKPOINT_VERSION",
    "EXTENSIONS",
    "ChainJson",
    "Checkpoint",
    "ExportPlan",
    "Manifest",
    "PartialFile",
    "Plan",
    "Progress",
    "SetManifest",
    "Stdout",
    "Target",
    "WindowJson",
    "format_of",
    "manifest_path",
    "open_plan",
    "plan_export",
    "resolve_target",
    "sha256_of",
]
