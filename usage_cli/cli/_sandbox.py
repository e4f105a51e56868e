"""`usage sandbox`."""

from typing import Annotated

import typer

from usage_cli.cli._app import app
from usage_cli.cli._invocation import invocation
from usage_cli.cli._options import GLOBAL_NOTE
from usage_cli.cli._typer_internals import Command
from usage_cli.errors import InputError

SANDBOX_EPILOG = """\
Examples:

\b
  usage sandbox --port 8080 --records 5000
  CHATBOTKIT_API_TOKEN=s3cret usage sandbox --rate-429 0.1 --latency 50
  usage sandbox --fail-every 503=3 --fail-every 429=7 --fail-every drop=11 --max-take 40
  usage sandbox --rate-limit 30          # the platform's 60 s window, 429s without Retry-After
  usage sandbox --drip 0.01              # every body a byte per 10 ms: rehearse --timeout
  usage sandbox --fail-every error200=5  # every 5th answer a 200 carrying an error
  usage sandbox --spike 40               # bot_2 runs away in the last hour: usage check --spike
"""


@app.command("sandbox", cls=Command, epilog=SANDBOX_EPILOG + GLOBAL_NOTE)
def sandbox_command(
    ctx: typer.Context,
    port: Annotated[int, typer.Option(help="Port on 127.0.0.1 (0 picks a free one).")] = 8080,
    records: Annotated[int, typer.Option(help="How many records to serve.")] = 1000,
    seed: Annotated[int, typer.Option(help="Seed of the generated records.")] = 1,
    anchor: Annotated[
        str | None,
        typer.Option(help="Newest possible createdAt (ISO 8601) [default: today 00:00 UTC]."),
    ] = None,
    latency: Annotated[float, typer.Option(help="Milliseconds added to every response.")] = 0.0,
    rate_429: Annotated[
        float, typer.Option("--rate-429", help="Share of requests answered 429 (0..1).")
    ] = 0.0,
    rate_5xx: Annotated[
        float, typer.Option("--rate-5xx", help="Share of requests answered 503 (0..1).")
    ] = 0.0,
    retry_after: Annotated[
        float,
        typer.Option(help="Retry-After seconds sent with an injected 429; below 0: none."),
    ] = 1.0,
    fail_every: Annotated[
        list[str] | None,
        typer.Option(
            "--fail-every",
            metavar="KIND=N",
            help="Every Nth request fails: KIND is 429, 500, 502, 503, 504, drop (close "
            "the connection), html (a proxy's 502 page), malformed (cut JSON), error200 "
            "(HTTP 200 carrying {message, code}, as a slow platform request ends) or drip "
            "(the body trickles at --drip, default 0.05 s a byte). Repeatable.",
            show_default=False,
        ),
    ] = None,
    max_take: Annotated[
        int | None,
        typer.Option(help="Silently serve at most this many records a page.", show_default=False),
    ] = None,
    loop_after: Annotated[
        int | None,
        typer.Option(
            help="After this many pages, hand back the cursor it was given (a cursor loop).",
            show_default=False,
        ),
    ] = None,
    odd_data: Annotated[
        bool,
        typer.Option(
            "--odd-data",
            help="Every 7th record's meta.note is valid but hostile: a lone surrogate "
            "(half an emoji) or terminal escape sequences.",
        ),
    ] = False,
    grow: Annotated[
        int,
        typer.Option(
            metavar="N",
            help="Add N new records, created now, every --grow-every seconds: usage to follow "
            "with `usage list --follow`.",
        ),
    ] = 0,
    grow_every: Annotated[
        float, typer.Option(metavar="SECONDS", help="How often --grow adds records.")
    ] = 5.0,
    rate_limit: Annotated[
        int | None,
        typer.Option(
            metavar="N",
            help="Answer at most N list requests in any 60 seconds, the rest 429 "
            "LIMITS_REACHED without Retry-After, as the platform's sliding window does.",
            show_default=False,
        ),
    ] = None,
    spike: Annotated[
        int,
        typer.Option(
            metavar="N",
            help="Add N large OPENAI_GPT_4O_TOKEN records of bot_2 in the hour before the "
            "sandbox starts: a runaway bot for `usage check --spike` to find.",
        ),
    ] = 0,
    drip: Annotated[
        float,
        typer.Option(
            metavar="SECONDS",
            help="Seconds between the bytes of every response body (with --fail-every "
            "drip=N: of every Nth only), to rehearse --timeout against a stalling server.",
        ),
    ] = 0.0,
) -> None:
    """Serve a local, seeded emulator of the usage-list endpoint on 127.0.0.1.

    The token it accepts is --token / CHATBOTKIT_API_TOKEN when set, else a
    printed sandbox token.
    """
    from usage_cli.query import parse_when
    from usage_cli.sandbox import DEFAULT_TOKEN, Sandbox
    from usage_cli.sandbox.server import Faults, parse_fault

    run = invocation(ctx)
    if not 0 <= port <= 65535:
        raise InputError(f"--port must be between 0 and 65535, not {port}")
    if records < 0:
        raise InputError(f"--records must be 0 or more, not {records}")
    if not latency >= 0:  # NaN too
        raise InputError(f"--latency must be 0 or more, not {latency:g}")
    if grow < 0:
        raise InputError(f"--grow must be 0 or more, not {grow}")
    if not 0 <= spike <= 100_000:
        raise InputError(f"--spike must be between 0 and 100000 records, not {spike}")
    if not 0.1 <= grow_every <= 86_400:
        raise InputError(f"--grow-every must be between 0.1 and 86400 seconds, not {grow_every:g}")
    for flag, rate in (("--rate-429", rate_429), ("--rate-5xx", rate_5xx)):
        if not 0 <= rate <= 1:
            raise InputError(f"{flag} must be between 0 and 1, not {rate:g}")
    if rate_429 + rate_5xx > 1:
        raise InputError("--rate-429 and --rate-5xx add up to more than 1")
    settings = run.settings()
    moment = parse_when(anchor, now=run.runtime.now()) if anchor else None
    try:
        every = dict(parse_fault(text) for text in fail_every or ())
    except ValueError as exc:
        raise InputError(str(exc)) from None
    if not 0 <= drip <= 60:
        raise InputError(f"--drip must be between 0 and 60 seconds a byte, not {drip:g}")
    for flag, value in (
        ("--max-take", max_take),
        ("--loop-after", loop_after),
        ("--rate-limit", rate_limit),
    ):
        if value is not None and value < 1:
            raise InputError(f"{flag} must be at least 1, not {value}")
    faults = Faults(
        latency=latency / 1000,
        rate_429=rate_429,
        rate_5xx=rate_5xx,
        retry_after=retry_after if retry_after >= 0 else None,
        every=every,
        max_take=max_take,
        loop_after=loop_after,
        rate_limit=rate_limit,
        drip=drip,
        clock=run.runtime.monotonic,
        seed=seed,
    )
    try:
        sandbox = Sandbox(
            records=records,
            seed=seed,
            token=settings.token or DEFAULT_TOKEN,
            port=port,
            anchor=moment,
            faults=faults,
            log=None if settings.quiet else run.runtime.stderr,
            odd_data=odd_data,
            grow=grow,
            grow_every=grow_every,
            spike=spike,
        )
    except OSError as exc:
        raise InputError(
            f"cannot listen on 127.0.0.1:{port}: {exc.strerror}",
            hint="pick another --port, or 0 for a free one",
        ) from None
    token_line = (
        "# token: the one you set with --token or CHATBOTKIT_API_TOKEN"
        if settings.token
        else f"export CHATBOTKIT_API_TOKEN={DEFAULT_TOKEN}"
    )
    try:
        stdout = run.runtime.stdout
        stdout.write(
            f"# usage sandbox: {len(sandbox.records)} records on {sandbox.url} (Ctrl-C to stop)\n"
            + (f"# with a spike: {spike} records of bot_2 in the last hour\n" if spike else "")
            + (f"# adding {grow} new records every {grow_every:g}s\n" if grow else "")
            + f"export CHATBOTKIT_API_URL={sandbox.url}\n{token_line}\n"
        )
        stdout.flush()
        sandbox.serve_forever()
    except KeyboardInterrupt:
        # Stopping is how a server's run ends, not a failure: exit 0.
        run.note("sandbox stopped")
    finally:
        sandbox.stop()
