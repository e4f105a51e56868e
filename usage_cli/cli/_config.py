"""`usage config set|unset|show|list`."""

from typing import Annotated

import typer

from usage_cli.cli._app import config_group
from usage_cli.cli._invocation import Invocation, invocation
from usage_cli.cli._options import GLOBAL_NOTE
from usage_cli.cli._typer_internals import Command
from usage_cli.errors import InputError

config_app = config_group(
    "config", "Named profiles (token, api_url, run_as, tz, prices) in a private TOML file."
)

CONFIG_EPILOG = """\
Examples:

\b
  usage config set token < token-file            (the token never touches argv)
  usage config set api_url http://127.0.0.1:8080 --profile sandbox
  usage config set tz Europe/Berlin
  usage config unset prices
  usage config show --profile sandbox
  usage config list
"""


@config_app.command(
    "set", cls=Command, short_help="Set a value in a profile", epilog=CONFIG_EPILOG + GLOBAL_NOTE
)
def config_set(
    ctx: typer.Context,
    key: Annotated[
        str, typer.Argument(help="token, api_url, run_as, tz or prices.", show_default=False)
    ],
    value: Annotated[
        str | None,
        typer.Argument(help="The value; read from stdin when left out.", show_default=False),
    ] = None,
) -> None:
    """Set a value in a profile (--profile, default: default); the file is kept at mode 0600."""
    from usage_cli import config

    name = config.normalise_key(key)
    run = invocation(ctx)
    env = run.runtime.env
    profile = _profile(run)
    if value is None:
        value = run.runtime.stdin.readline().strip()
    if not value.strip():
        raise InputError(f"no value given for {name}")
    if name == "token" and value in run.runtime.argv[1:]:
        run.note(
            "warning: a token on the command line shows in `ps` and shell history; "
            "`usage config set token` reads it from stdin instead"
        )
    if name == "api_url":
        from usage_cli.client import list_url
        from usage_cli.client._urls import ALLOW_HTTP_ENV, cleartext_to

        list_url(value)
        host = cleartext_to(value)
        if host is not None:
            run.note(
                f"warning: {value} is plain http to {host}: the token would cross the "
                f"network unencrypted, and usage refuses to send it there unless "
                f"{ALLOW_HTTP_ENV}=1 is set"
            )
    if name == "tz":
        from usage_cli.zones import check

        try:
            value = check(value)
        except InputError as exc:
            # No --tz was typed: the error is about the setting named.
            exc.message = exc.message.replace("--tz: ", "tz: ", 1)
            raise
    if name == "prices":
        from pathlib import Path

        from usage_cli import prices

        prices.load(value)  # a file that cannot price anything is refused now, not later
        # Kept absolute: a profile is read from whatever directory a command runs in.
        value = str(Path(value).expanduser().resolve())
    path = config.config_path(env)
    profiles = config.load(path)
    profiles.setdefault(profile, {})[name] = value
    config.save(path, profiles)
    shown = {"token": config.mask, "api_url": config.mask_url}.get(name, str)(value)
    run.note(f"set {name} = {shown} in profile {profile!r} ({path})")


@config_app.command(
    "unset",
    cls=Command,
    short_help="Remove a value from a profile",
    epilog=CONFIG_EPILOG + GLOBAL_NOTE,
)
def config_unset(
    ctx: typer.Context,
    key: Annotated[
        str, typer.Argument(help="token, api_url, run_as, tz or prices.", show_default=False)
    ],
) -> None:
    """Remove a value from a profile (--profile, default: default)."""
    from usage_cli import config

    name = config.normalise_key(key)
    run = invocation(ctx)
    env = run.runtime.env
    profile = _profile(run)
    path = config.config_path(env)
    profiles = config.load(path)
    if name not in profiles.get(profile, {}):
        # What was asked for holds already: a script's second `unset` is no failure.
        run.note(f"profile {profile!r} has no {name}; nothing to unset ({path})")
        return
    del profiles[profile][name]
    config.save(path, profiles)
    run.note(f"unset {name} in profile {profile!r} ({path})")


@config_app.command(
    "show",
    cls=Command,
    short_help="The settings a command would use, and where each is from",
    epilog=CONFIG_EPILOG + GLOBAL_NOTE,
)
def config_show(ctx: typer.Context) -> None:
    """Show the settings a command would use, and where each comes from; the token masked."""
    from usage_cli import config

    run = invocation(ctx)
    settings = run.settings(read_stdin=False)
    token = config.mask(settings.token) if settings.token else "(not set)"
    if settings.token_refused is not None and not settings.token:
        token = "(not used: its file is open to others)"
    rows = [
        ("profile", settings.profile or "(none)", str(config.config_path(run.runtime.env))),
        ("token", token, settings.sources.get("token", "")),
        ("api_url", config.mask_url(settings.api_url), settings.sources.get("api_url", "default")),
        ("run_as", settings.run_as or "(not set)", settings.sources.get("run_as", "")),
        ("tz", settings.tz, settings.sources.get("tz", "default")),
        ("prices", settings.prices or "(bundled)", settings.sources.get("prices", "default")),
    ]
    for key, value, source in rows:
        run.runtime.stdout.write(f"{key:<8} {value}" + (f"    # {source}" if source else "") + "\n")


@config_app.command(
    "list",
    cls=Command,
    short_help="The profiles in the config file, and what each holds",
    epilog=CONFIG_EPILOG + GLOBAL_NOTE,
)
def config_list(ctx: typer.Context) -> None:
    """List the profiles in the config file and the settings each holds."""
    from usage_cli import config

    run = invocation(ctx)
    path = config.config_path(run.runtime.env)
    profiles = config.load(path)
    if not profiles:
        run.say(f"no profiles yet in {path}; add one with `usage config set KEY VALUE`")
        return
    for name in sorted(profiles):
        run.runtime.stdout.write(
            f"{name}\t{', '.join(k for k in config.KEYS if k in profiles[name])}\n"
        )


def _profile(run: Invocation) -> str:
    """The profile `config set` and `unset` write: --profile, $USAGE_PROFILE, or default."""
    from usage_cli import config

    return config.check_profile_name(
        run.options.profile or run.runtime.env.get(config.PROFILE_ENV) or config.DEFAULT_PROFILE
    )
