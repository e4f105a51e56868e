"""`usage prices`."""

from typing import TYPE_CHECKING, Annotated, Literal

import typer

from usage_cli.cli._app import app
from usage_cli.cli._invocation import invocation
from usage_cli.cli._options import GLOBAL_NOTE, OUTPUT_PANEL, PricesOpt, WideOpt
from usage_cli.cli._typer_internals import Command

if TYPE_CHECKING:
    from usage_cli.prices import PriceTable

PRICES_EPILOG = """\
Examples:

\b
  usage prices
  usage prices OPENAI_GPT_4O_MINI_TOKEN        (which entry prices it, and when)
  usage prices --prices contract.toml -o json
"""
PricesFormat = Literal["table", "json"]


@app.command("prices", cls=Command, epilog=PRICES_EPILOG + GLOBAL_NOTE)
def prices_command(
    ctx: typer.Context,
    kind: Annotated[
        str | None,
        typer.Argument(
            metavar="[TYPE]",
            help="Only the entries that price this usage type, in the order they are tried.",
            show_default=False,
        ),
    ] = None,
    output_format: Annotated[
        PricesFormat | None,
        typer.Option(
            "--format",
            "-o",
            help="table or json [default: table on a terminal, json otherwise].",
            rich_help_panel=OUTPUT_PANEL,
            show_default=False,
        ),
    ] = None,
    prices: PricesOpt = None,
    wide: WideOpt = False,
) -> None:
    """Show the price table in effect: each entry, where it comes from, and its sha256.

    The bundled prices are blended list-price estimates (a record does not split
    input from output tokens); put your contract's prices in a file for --prices.
    """
    run = invocation(ctx)
    settings = run.settings(prices=prices)
    table = run.prices(settings)
    if kind is not None:
        shown = set(map(id, table.candidates(kind)))
        if not shown:
            run.note(f"no entry prices {kind}: its records are reported as unpriced")
        table = _only(table, shown)
    fmt = output_format or ("table" if run.runtime.stdout_tty else "json")
    out = run.runtime.stdout
    if fmt == "json":
        import json

        document = {**table.to_json(), "entries": [table.entry_dict(e) for e in table.ordered()]}
        out.write(json.dumps(document, ensure_ascii=False, indent=2) + "\n")
        return
    from usage_cli.reports.tables import render_prices

    render_prices(table, out, run.display(settings, wide=wide))


def _only(table: "PriceTable", kept: set[int]) -> "PriceTable":
    from dataclasses import replace

    return replace(table, entries=tuple(e for e in table.entries if id(e) in kept), _by_type={})
