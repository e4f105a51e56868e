"""Argument-vector checks and preparation that click cannot express on its own."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from usage_cli.cli._typer_internals import option_arity, options_of, subcommand
from usage_cli.errors import InputError

# Parameters whose values are secrets (the token, and the sandbox's own).
SECRET_OPTIONS = frozenset({"token"})


def _global_options(group: Any) -> dict[str, bool]:
    return {
        opt: takes
        for opt, takes in option_arity(group, secondary=False, nested=False).items()
        if opt not in ("--help", "-h", "--version")
    }


def _command_index(args: list[str], global_opts: dict[str, bool]) -> int:
    """Where the command name stands: after the global options (and their values)."""
    index = 0
    while index < len(args) and args[index].startswith("-") and args[index] != "--":
        head = args[index].split("=", 1)[0]
        index += 2 if global_opts.get(head) and "=" not in args[index] else 1
    return index


def command_index(group: Any, args: list[str]) -> int:
    """Where the command name stands in `args`, for `group`'s global options."""
    return _command_index(args, _global_options(group))


def _global_cluster(word: str, global_opts: dict[str, bool], own: dict[str, bool]) -> bool:
    """Whether `word` is a cluster of global flags, such as `-qv` or `-vv`.

    Only when every letter is a global flag that takes no value and that the
    command does not claim for itself: `-o` in a cluster stays the command's.
    """
    letters = word[1:]
    if not word.startswith("-") or word.startswith("--") or len(letters) < 2:
        return False
    return all(
        global_opts.get(f"-{letter}") is False and f"-{letter}" not in own for letter in letters
    )


def _split_cluster(
    word: str, global_opts: dict[str, bool], own: dict[str, bool]
) -> list[str] | None:
    """`-qo csv`'s `-qo` as `-q -o`, `-qocsv` as `-q -o csv`: a cluster mixing global
    and command flags, split so that each goes where it belongs; None if `word` is none.
    """
    if not word.startswith("-") or word.startswith("--") or len(word) < 3 or word in own:
        return None
    known = {**global_opts, **own}
    split: list[str] = []
    for position, letter in enumerate(word[1:], start=1):
        option = f"-{letter}"
        if option not in known:
            return None  # not a cluster of ours: click says what is wrong with it
        split.append(option)
        if known[option]:
            value = word[position + 1 :]
            return [*split, value] if value else split
    return split


def hoist_global_options(args: list[str], group: Any) -> list[str]:
    """Move global options written after the command name to before it.

    The contract lets `--token`, `--api-url`, `-v`, ... stand on either side of
    the command name; the root callback owns them, so they must reach it.
    """
    global_opts = _global_options(group)
    index = _command_index(args, global_opts)
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
        split = (
            None if head in own or head in global_opts else _split_cluster(word, global_opts, own)
        )
        if split is not None and not _global_cluster(word, global_opts, own):
            args = [*args[:position], *split, *args[position + 1 :]]
            continue
        if head in global_opts and head not in own:
            target, takes = hoisted, global_opts[head]
        elif _global_cluster(word, global_opts, own):
            target, takes = hoisted, False
        else:
            target, takes = rest, own.get(head, False)
        if target is hoisted and takes and not inline and position + 1 == len(args):
            # Moved before the command name, it would take the name as its value.
            raise InputError(f"{word} needs a value", hint=f"e.g. {word} VALUE")
        target.append(word)
        if takes and not inline and position + 1 < len(args):
            position += 1
            target.append(args[position])
        position += 1
    return [*args[:index], *hoisted, args[index], *rest]


def refuse_repeated_options(args: list[str], group: Any) -> None:
    """Refuse a single-value option given twice: never let the last one silently win.

    `--order asc --order desc` could mean either; options that may repeat (the
    relation ids, `--meta`, `--by`) say so in their declaration.
    """
    index = _command_index(args, _global_options(group))
    command = subcommand(group, args[index]) if index < len(args) else None
    known = options_of(group, nested=False)
    if command is not None:
        known |= options_of(command)
    given: dict[str, list[str]] = {}
    position = 0
    while position < len(args) and args[position] != "--":
        word = args[position]
        position += 1
        head, inline, value = word.partition("=")
        name, takes, multiple = known.get(head, ("", False, True))
        if not word.startswith("-") or not takes:
            continue
        if not inline and position < len(args):
            value = args[position]
            position += 1
        if not multiple:
            # A secret is never echoed, not even back to the one who typed it.
            shown = "***" if name in SECRET_OPTIONS else value
            given.setdefault(name, []).append(f"{head} {shown}")
    for words in given.values():
        if len(words) > 1:
            raise InputError(
                f"{words[0].split()[0]} is given {len(words)} times ({', '.join(words)})",
                hint="give it once",
            )


# Options whose value may be left out: given bare, they take BARE, which means
# "the default" (`--db`: $USAGE_DB, else the default archive). A NUL is the one
# value no shell can pass, so BARE is never a path someone typed (nor is "",
# which an unset variable gives, and which is refused).
OPTIONAL_VALUE_OPTIONS = frozenset({"--db"})
BARE = "\x00"


def fill_optional_values(args: list[str]) -> list[str]:
    """`--db` with no value (last, or before another option) as `--db=BARE`.

    The word after a bare `--db` is its value unless it starts with `-`: so
    `usage list --db --bot-id X` and `usage list --bot-id X --db` read the
    default archive, and `usage list --db my.db` reads `my.db`.
    """
    filled: list[str] = []
    for position, word in enumerate(args):
        if word == "--":
            return [*filled, *args[position:]]
        following = args[position + 1] if position + 1 < len(args) else None
        if word in OPTIONAL_VALUE_OPTIONS and (following is None or following.startswith("-")):
            filled.append(f"{word}={BARE}")
        else:
            filled.append(word)
    return filled


# What the command to continue a listing leaves out of the words as typed: the
# old cursor (the new one replaces it), and the token, which a line printed to
# the terminal must never carry (nor a command pasted into a shell's history);
# `--token-stdin` too, since a pasted line has no pipe in front of it.
_NOT_CARRIED = {"--cursor": True, "--token": True, "--token-stdin": False}


def continuation(
    words: Sequence[str], cursor: str, pinned: Mapping[str, str] | None = None
) -> tuple[str, bool]:
    """The command, as typed, that shows what follows `cursor`: every word kept (the
    filters, the window, `--order`, `--demo`, `--db`, `--limit`) but those above, and
    whether a token option was left out. `pinned` gives the value an option is to
    have instead of the one typed: `--since 7d` as the moment it meant, so that the
    line pasted tomorrow reads the same window."""
    import shlex

    kept: list[str] = []
    skip = False
    dropped_token = False
    pinned = pinned or {}
    for position, word in enumerate(words):
        if skip:
            skip = False
            continue
        if word == "--":
            kept.extend(words[position:])
            break
        head, has_value = word.split("=", 1)[0], "=" in word
        if head in _NOT_CARRIED:
            skip = _NOT_CARRIED[head] and not has_value
            dropped_token = dropped_token or head != "--cursor"
            continue
        if head in pinned:
            kept += [head, pinned[head]]
            skip = not has_value
            continue
        kept.append(word)
    return shlex.join(["usage", *kept, "--cursor", cursor]), dropped_token
