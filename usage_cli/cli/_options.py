"""Options that several commands share, declared once as Annotated aliases.

Each command spells the ones it takes in its own signature (Typer's public
way); `query_of` then reads them from the parsed parameters.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Annotated, Any

import typer

from usage_cli.paging import Order
from usage_cli.relations import BY_WORD, TABLE

if TYPE_CHECKING:
    from usage_cli.query import Query

DEFAULT_LIMIT = 20
FILTERS_PANEL = "Filters"
PAGING_PANEL = "Paging and time window"
OUTPUT_PANEL = "Output"
GLOBAL_PANEL = "Global options (also accepted after the command name)"
GLOBAL_NOTE = (
    "\n\nGlobal options (--token, --token-stdin, --api-url, --run-as, --profile, --timeout, "
    "--retries, -v, --debug, -q, --tz, --no-color) work here too: see usage --help."
)


def _relation_option(word: str) -> Any:
    relation = BY_WORD[word]
    return typer.Option(
        relation.flag,
        help=f"Records of this {word}; several ids (comma-separated or the flag repeated) "
        "match any.",
        rich_help_panel=FILTERS_PANEL,
    )


TypeOpt = Annotated[
    str | None,
    typer.Option(
        BY_WORD["type"].flag,
        help="Usage type, e.g. OPENAI_GPT_4O_TOKEN.",
        rich_help_panel=FILTERS_PANEL,
    ),
]
ConversationOpt = Annotated[list[str] | None, _relation_option("conversation")]
MessageOpt = Annotated[list[str] | None, _relation_option("message")]
TaskOpt = Annotated[list[str] | None, _relation_option("task")]
ContactOpt = Annotated[list[str] | None, _relation_option("contact")]
BlueprintOpt = Annotated[list[str] | None, _relation_option("blueprint")]
BotOpt = Annotated[list[str] | None, _relation_option("bot")]
DatasetOpt = Annotated[list[str] | None, _relation_option("dataset")]
SkillsetOpt = Annotated[list[str] | None, _relation_option("skillset")]
AbilityOpt = Annotated[list[str] | None, _relation_option("ability")]
MetaOpt = Annotated[
    list[str] | None,
    typer.Option(
        "--meta",
        metavar="KEY=VALUE",
        help="Match a metadata value; repeat for several keys (all must match).",
        rich_help_panel=FILTERS_PANEL,
        show_default=False,
    ),
]
OrderOpt = Annotated[
    Order,
    typer.Option(help="Newest first (desc) or oldest first (asc).", rich_help_panel=PAGING_PANEL),
]
TakeOpt = Annotated[
    int, typer.Option(help="Page size asked of the API.", rich_help_panel=PAGING_PANEL)
]
CursorOpt = Annotated[
    str | None,
    typer.Option(
        help="Start after this cursor (as printed by a previous run).", rich_help_panel=PAGING_PANEL
    ),
]
SinceOpt = Annotated[
    str | None,
    typer.Option(
        help="Only records created at or after this: ISO 8601 (UTC if no zone) or a span "
        "(30m, 12h, 7d, 2w, 6mo).",
        rich_help_panel=PAGING_PANEL,
    ),
]
UntilOpt = Annotated[
    str | None,
    typer.Option(
        help="Only records created at or before this; a bare date includes that whole day.",
        rich_help_panel=PAGING_PANEL,
    ),
]
DemoOpt = Annotated[
    bool,
    typer.Option("--demo", help="Use a built-in sandbox with demo records: no account needed."),
]
WideOpt = Annotated[
    bool,
    typer.Option(
        "--wide",
        help="Every column at its natural width, however wide the terminal is.",
        rich_help_panel=OUTPUT_PANEL,
    ),
]
ExactOpt = Annotated[
    bool,
    typer.Option(
        "--exact",
        help="Write the API's text exactly as sent: a lone surrogate (half an emoji) kept as "
        "its JSON escape rather than U+FFFD (in JSON; a CSV cell, being UTF-8, cannot hold "
        "one), and CSV cells without the ' that keeps a spreadsheet from running them as "
        "formulas.",
        rich_help_panel=OUTPUT_PANEL,
    ),
]
ARCHIVE_PANEL = "Archive (offline)"
DbOpt = Annotated[
    str | None,
    typer.Option(
        "--db",
        metavar="[PATH]",
        help="Answer from the local archive that `usage sync` fills, offline, with no token: "
        "PATH, else $USAGE_DB, else the default archive (a bare --db).",
        rich_help_panel=ARCHIVE_PANEL,
        show_default=False,
    ),
]
SourceOpt = Annotated[
    str | None,
    typer.Option(
        "--source",
        metavar="NAME",
        help="With --db: the archive's source to read, when it holds several (a profile's "
        "name, or the API's host; `usage verify ARCHIVE` lists them).",
        rich_help_panel=ARCHIVE_PANEL,
        show_default=False,
    ),
]
MONEY_PANEL = "Money"
PricesOpt = Annotated[
    str | None,
    typer.Option(
        "--prices",
        metavar="FILE",
        help="A price table (TOML) over the bundled one: its entries first, the bundled "
        "ones for the rest; with `replace = true` in it, alone [env: USAGE_PRICES; profile "
        "key: prices]. `usage prices` shows the table in effect.",
        rich_help_panel=MONEY_PANEL,
        show_default=False,
    ),
]
CostOpt = Annotated[
    bool,
    typer.Option(
        "--cost",
        help="Add the cost of each group and its share, from the price table; types without "
        "a price are reported as unpriced, never as 0.",
        rich_help_panel=MONEY_PANEL,
    ),
]
ExportCostOpt = Annotated[
    bool,
    typer.Option(
        "--cost",
        help="CSV only: add a cost column after the contract's columns (exact, empty when "
        "unpriced, never 0); the manifest records the price table's sha256 and the cost total.",
        rich_help_panel=MONEY_PANEL,
    ),
]
# Export read the list from both ends once (`--streams 2`); reading from both
# ends is sync's now. Scripts that pinned `--streams 1` keep working; hidden.
ExportStreamsOpt = Annotated[
    int | None,
    typer.Option("--streams", metavar="1", hidden=True, show_default=False),
]


def query_of(params: dict[str, Any], *, now: datetime) -> Query:
    """The validated query of a record-reading command, from its parsed parameters."""
    from usage_cli.query import Query

    return Query.from_words(
        filters={relation.attribute: _one(params[relation.parameter]) for relation in TABLE},
        meta=params["meta"],
        order=params["order"],
        take=params["take"],
        cursor=params.get("cursor"),
        since=params["since"],
        until=params["until"],
        now=now,
    )


def _one(value: str | Sequence[str] | None) -> str | None:
    """A relation filter as the API takes it: several ids as one comma list."""
    if value is None or isinstance(value, str):
        return value
    return ",".join(value) if value else None
