"""`usage schema`."""

from typing import Annotated, Literal

import typer

from usage_cli.cli._app import app
from usage_cli.cli._invocation import invocation
from usage_cli.cli._options import GLOBAL_NOTE
from usage_cli.cli._typer_internals import Command

SCHEMA_EPILOG = """\
Examples:

\b
  usage schema summary
  usage schema check > check.schema.json
  usage schema manifest
"""
# The documents usage itself defines (a test holds these to verify.schemas).
DocumentName = Literal[
    "summary", "compare", "check", "prices", "manifest", "set-manifest", "verify", "sync"
]


@app.command(
    "schema",
    cls=Command,
    short_help="The JSON Schema of a JSON document usage writes",
    epilog=SCHEMA_EPILOG + GLOBAL_NOTE,
)
def schema_command(
    ctx: typer.Context,
    name: Annotated[
        DocumentName,
        typer.Argument(
            metavar="NAME",
            help="summary, compare, check or prices (that command's -o json), manifest or "
            "set-manifest (an export's, a partitioned export's), verify or sync (its -o json).",
            show_default=False,
        ),
    ],
) -> None:
    """Print the JSON Schema of a JSON document usage writes (its schemaVersion's)."""
    import json

    from usage_cli.verify.schemas import schema

    run = invocation(ctx)
    run.runtime.stdout.write(json.dumps(schema(name), indent=2) + "\n")
