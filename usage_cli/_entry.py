"""The console script: answers `usage --version` before importing anything heavy.

Typer alone costs several times a bare interpreter start; a version check in a
script or a prompt should not pay for it.
"""

from __future__ import annotations

import os
import sys


def main() -> None:
    if sys.argv[1:] == ["--version"]:
        from usage_cli._version import VERSION_LINE

        # Straight to the descriptor: no runtime exists yet, and none is needed.
        os.write(1, VERSION_LINE.encode())
        return
    from usage_cli.cli import main as cli_main

    cli_main()
