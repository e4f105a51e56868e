"""Argument-vector preparation that click cannot express on its own."""

from __future__ import annotations

from typing import Any

from usage_cli.cli._typer_internals import option_arity, subcommand


def hoist_global_options(args: list[str], group: Any) -> list[str]:
    """Move global options written after the command name to before it.

    The contract lets `--token`, `--api-url`, `-v`, ... stand on either side of
    the command name; the root callback owns them, so they must reach it.
    """
    global_opts = {
        opt: takes
        for opt, takes in option_arity(group, secondary=False, nested=False).items()
        if opt not in ("--help", "-h", "--version")
    }
    index = 0
    while index < len(args) and args[index].startswith("-") and args[index] != "--":
        head = args[index].split("=", 1)[0]
        index += 2 if global_opts.get(head) and "=" not in args[index] else 1
    command = subcommand(group, args[index]) if index < len(args) else None
    if command is None:
        return args
    own = option_arity(command)
    hoisted: list[str] = []
    rest: list[str] = []
    position = index + 1
    while position < len(args):
        word = args[position]
        if word == "--":
            rest += args[position:]
            break
        head = word.split("=", 1)[0]
        inline = "=" in word
        if head in global_opts and head not in own:
            target, takes = hoisted, global_opts[head]
        elif word.startswith("-v") and set(word[1:]) == {"v"} and "-v" in global_opts:
            target, takes = hoisted, False
        else:
            target, takes = rest, own.get(head, False)
        target.append(word)
        if takes and not inline and position + 1 < len(args):
            position += 1
            target.append(args[position])
        position += 1
    return [*args[:index], *hoisted, args[index], *rest]
