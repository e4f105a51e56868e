"""The one door to Typer's and click's internals: every private name we use is here.

Checked against typer 0.28.0 and 0.29.2, which vendor click as `typer._click`
(so every click name is, for us, a Typer private). Each name below has a test
in `tests/test_typer_internals.py`; after a Typer upgrade, a missing one fails
there with the name and what it was for, rather than somewhere in a command.
CI runs those tests against the lowest and the newest Typer the pin allows.

- `typer.core.TyperCommand`, `TyperGroup`: bases of our commands (grouped plain
  help; a closed pipe is a quiet end), with `invoke`, `format_options`,
  `format_commands`, `get_params`, `get_help_record`, `param_type_name`.
- `TyperOption.rich_help_panel`: which help section an option belongs to.
- `TyperCommand.collect_usage_pieces`, `Command.options_metavar`,
  `Parameter.metavar`, `nargs`, `required`: arguments named in help and on the
  usage line as Typer 0.28 named them, on 0.29 too.
- `HelpFormatter.section`, `HelpFormatter.write_dl`: help sections without rich.
- `Group.params`, `Group.commands`, `Parameter.name`, `Parameter.opts`,
  `Parameter.secondary_opts`, `Option.is_flag`, `Option.count`, `Option.multiple`:
  the walks that hoist global options and find repeated single-value options.
- `typer._click.exceptions.NoArgsIsHelpError`: `usage` alone prints help.
- `ClickException.format_message`, `UsageError.ctx`, `Context.command_path`:
  one-line usage errors with a hint.
- `typer._completion_classes.completion_init`: the shells' classes, at TAB.
- `typer._completion_classes._sanitize_help_text`: replaced, because our help is
  plain and the original imports rich.
- `Typer.registered_commands`, `Typer.registered_groups`, `CommandInfo.name`,
  `TyperInfo.name`: building only the command a run names (`command_for`);
  `CommandInfo.callback`, `CommandInfo.help`, `TyperInfo.typer_instance`: the
  outline `usage --help` draws (`_outline`).
- Typer 0.29 on: `_TyperParameter.get_runtime_param` (it uses `_runtime_param`
  when set), `type_descriptor` (its `annotation`, `is_path`, `is_file`, and its
  `parameter_info`'s `parser`, `min`, `max`, `case_sensitive`),
  `typer._coercion.build_runtime_param`: values coerced as 0.28 did
  (`_Deferred`), so that help and TAB import no pydantic and a bad value is
  refused in the same words.
"""

from __future__ import annotations

import copy
import importlib
import inspect
import re
from collections.abc import Callable
from enum import Enum
from typing import Any, Literal, get_args, get_origin

import typer
from typer.core import TyperCommand, TyperGroup

# (module, dotted attribute, why): what `tests/test_typer_internals.py` checks.
PRIVATE_NAMES: tuple[tuple[str, str, str], ...] = (
    ("typer.core", "TyperCommand.invoke", "a closed pipe ends a command quietly"),
    ("typer.core", "TyperCommand.format_options", "plain, grouped help"),
    ("typer.core", "TyperCommand.get_params", "plain, grouped help"),
    ("typer.core", "TyperCommand.collect_usage_pieces", "arguments named as before"),
    ("typer.core", "TyperGroup.format_commands", "plain, grouped help"),
    ("typer.core", "TyperOption.get_help_record", "plain, grouped help"),
    ("typer.core", "TyperOption.param_type_name", "plain, grouped help"),
    ("typer.core", "TyperArgument.param_type_name", "plain, grouped help"),
    ("typer._click.formatting", "HelpFormatter.section", "plain, grouped help"),
    ("typer._click.formatting", "HelpFormatter.write_dl", "plain, grouped help"),
    ("typer._click.exceptions", "NoArgsIsHelpError", "`usage` alone prints help"),
    ("typer._click.exceptions", "ClickException.format_message", "one-line usage errors"),
    ("typer._click.core", "Context.command_path", "the hint of a usage error"),
    ("typer._completion_classes", "completion_init", "completion at TAB"),
    ("typer._completion_classes", "_sanitize_help_text", "completion without rich"),
    ("typer.models", "CommandInfo", "building only the command a run names"),
    ("typer.models", "TyperInfo", "building only the command a run names"),
)
# Typer 0.29 on, where every value is coerced by pydantic: what `_Deferred` uses.
COERCION_NAMES: tuple[tuple[str, str, str], ...] = (
    ("typer.core", "_TyperParameter.get_runtime_param", "help and TAB without pydantic"),
    ("typer._coercion", "build_runtime_param", "help and TAB without pydantic"),
)
# Set on each built parameter by Typer 0.29 on (dotted: attributes of attributes).
COERCION_INSTANCE_NAMES: tuple[str, ...] = (
    "_runtime_param",
    "type_descriptor.annotation",
    "type_descriptor.is_path",
    "type_descriptor.is_file",
    "type_descriptor.parameter_info.parser",
    "type_descriptor.parameter_info.min",
    "type_descriptor.parameter_info.max",
    "type_descriptor.parameter_info.case_sensitive",
)
# Attributes of a `typer.Typer` and of its registrations, checked on the app.
APP_NAMES: tuple[str, ...] = ("registered_commands", "registered_groups")
COMMAND_INFO_NAMES: tuple[str, ...] = ("name", "callback", "help")
GROUP_INFO_NAMES: tuple[str, ...] = ("name", "typer_instance")
# Attributes set on instances (not classes), checked on a built command instead.
INSTANCE_NAMES: tuple[str, ...] = (
    "commands",
    "multiple",
    "name",
    "params",
    "opts",
    "secondary_opts",
    "is_flag",
    "count",
    "rich_help_panel",
    "options_metavar",
    "metavar",
    "nargs",
    "required",
)


def coerces_with_pydantic() -> bool:
    """Whether this Typer (0.29 on) coerces values with pydantic, which `_Deferred` defers."""
    major, minor = (int(part) for part in typer.__version__.split(".")[:2])
    return (major, minor) >= (0, 29)


def missing_names() -> list[str]:
    """The private names this Typer no longer has, each with what it was for."""
    missing = []
    wanted = PRIVATE_NAMES + (COERCION_NAMES if coerces_with_pydantic() else ())
    for module_name, dotted, why in wanted:
        try:
            found: Any = importlib.import_module(module_name)
            for part in dotted.split("."):
                found = getattr(found, part)
        except (ImportError, AttributeError):
            missing.append(f"{module_name}.{dotted} (used for: {why})")
    return missing


class PipeClosed(Exception):
    """The reader of stdout went away (`usage list --all | head`)."""


def _format_grouped(command: Any, ctx: Any, formatter: Any) -> None:
    """Options in their panels (Filters, Output, ...), in plain text.

    Typer draws panels with rich, whose import alone costs more than the rest
    of `--help`; the same grouping in click's own formatter keeps help fast.
    """
    sections: dict[str, list[tuple[str, str]]] = {"Arguments": [], "Options": []}
    for param in command.get_params(ctx):
        record = param.get_help_record(ctx)
        if record is None:
            continue
        name, text = record
        if param.param_type_name == "argument":
            title = "Arguments"
            name = _argument_metavar(param, usage=False)
        else:
            title = getattr(param, "rich_help_panel", None) or "Options"
            # Typer 0.29 labels a repeatable option's value `<list[str]>`; one
            # occurrence takes one `<str>`, as 0.28 said.
            name = _LISTED.sub(r"<\1>", name)
        sections.setdefault(title, []).append((name, text))
    for title, rows in sections.items():
        if rows:
            with formatter.section(title):
                formatter.write_dl(rows)


_LISTED = re.compile(r"<list\[(.*)\]>$")


def _argument_metavar(param: Any, *, usage: bool) -> str:
    """An argument as help names it, as Typer 0.28 did for our arguments (all strings).

    Typer 0.29 adds its type in help (`PATH <str>`) and brackets an optional
    one even when its metavar has them (`[[TYPE]]`). On the usage line a
    required argument is bare and upper case (`KEY`, as gh and git write it),
    an optional one in brackets.
    """
    var: str = param.metavar if param.metavar is not None else param.name
    if usage and param.metavar is None:
        var = var.upper()
    if usage and not var.startswith("[") and not param.required:
        var = f"[{var}]"
    if param.metavar is None and param.nargs != 1:
        var += "..."
    return var


class Command(TyperCommand):
    def collect_usage_pieces(self, ctx: Any) -> list[str]:
        arguments = [p for p in self.get_params(ctx) if p.param_type_name == "argument"]
        options = [self.options_metavar] if self.options_metavar else []
        return options + [_argument_metavar(p, usage=True) for p in arguments]

    def get_params(self, ctx: Any) -> list[Any]:
        # Every parameter processed comes from here, the help option (made on
        # first use) included.
        return _defer_coercion(super().get_params(ctx))

    def invoke(self, ctx: Any) -> Any:
        # Typer turns EPIPE into exit 1; a closed pipe is a normal end for us.
        try:
            return super().invoke(ctx)
        except BrokenPipeError as exc:
            raise PipeClosed from exc

    def format_options(self, ctx: Any, formatter: Any) -> None:
        _format_grouped(self, ctx, formatter)


# `usage --help` lists the commands in the order a person meets them, not A to Z.
COMMAND_ORDER = (
    "list",
    "summary",
    "export",
    "verify",
    "sync",
    "check",
    "prices",
    "config",
    "sandbox",
    "schema",
)


class Group(TyperGroup):
    def list_commands(self, ctx: Any) -> list[str]:
        names: list[str] = super().list_commands(ctx)
        known = {name: index for index, name in enumerate(COMMAND_ORDER)}
        return sorted(names, key=lambda name: (known.get(name, len(known)), name))

    def get_params(self, ctx: Any) -> list[Any]:
        return _defer_coercion(super().get_params(ctx))

    def format_options(self, ctx: Any, formatter: Any) -> None:
        _format_grouped(self, ctx, formatter)
        self.format_commands(ctx, formatter)


class _Deferred:
    """Typer's coercion of one parameter (0.29 on), as Typer 0.28 coerced it.

    Typer 0.29 coerces each value with a pydantic adapter it builds on first
    use, defaults and absent options included: the group's options are
    processed before a command's `--help`, and all of a command's at TAB, so
    `usage list --help` would import pydantic, most of its time. Its words for
    a bad value changed too ("Input should be a valid integer, ..."). So an
    absent value, one already of its type (a default), and a typed str, int,
    float or choice are coerced here as click did, in its words; any other
    gets Typer's own.
    """

    def __init__(self) -> None:
        self._typer: Any = None

    def coerce(self, value: Any, param: Any, ctx: Any) -> Any:
        if value is None:
            return () if param.multiple or param.nargs == -1 else None
        descriptor = param.type_descriptor
        info = descriptor.parameter_info
        plain = (
            info.parser is None
            and info.min is None
            and info.max is None
            and info.case_sensitive
            and not descriptor.is_path
            and not descriptor.is_file
        )
        if plain and type(value) is descriptor.annotation:
            return value
        if plain and isinstance(value, str):
            coerced = _as_click_did(value, descriptor.annotation, param, ctx)
            if coerced is not _NOT_PLAIN:
                return coerced
        if self._typer is None:
            # By name: Typer 0.28, which the type checker may be looking at, has no such module.
            coercion: Any = importlib.import_module("typer._coercion")
            self._typer = coercion.build_runtime_param(descriptor)
        return self._typer.coerce(value, param=param, ctx=ctx)


_NOT_PLAIN = object()


def _as_click_did(value: str, annotation: Any, param: Any, ctx: Any) -> Any:
    """A typed `value` made an int, a float or a choice as Typer 0.28 (click's types)
    made it, a bad one refused in their words; `_NOT_PLAIN` for any other type."""
    if annotation in (int, float):
        try:
            return annotation(value)
        except ValueError:
            said = f"{value!r} is not a valid {annotation.__name__}."
            raise typer.BadParameter(said, ctx=ctx, param=param) from None
    choices: dict[str, Any]
    if isinstance(annotation, type) and issubclass(annotation, Enum):
        choices = {str(member.value): member for member in annotation}
    elif get_origin(annotation) is Literal:
        choices = {str(choice): choice for choice in get_args(annotation)}
    else:
        return _NOT_PLAIN
    if value in choices:
        return choices[value]
    said = f"{value!r} is not one of {', '.join(map(repr, choices))}."
    raise typer.BadParameter(said, ctx=ctx, param=param)


def _defer_coercion(params: list[Any]) -> list[Any]:
    """`params`, each coerced by a `_Deferred` (on a Typer that coerces with pydantic)."""
    for param in params:
        if getattr(param, "_runtime_param", False) is None and hasattr(param, "type_descriptor"):
            param._runtime_param = _Deferred()
    return params


def command_for(
    app: typer.Typer, args: list[str], command_index: Callable[[Any, list[str]], int]
) -> Any:
    """The click group that runs `args`: holding only the command they name, when
    they plainly name one.

    Typer turns every command's signature into click parameters before it
    parses a word, about 5 ms a command: a run needs one. The group built from
    the named command alone parses `args` as the whole one would, which
    `command_index` (where the group's own options end) confirms; help of the
    group, completion and anything unclear get the whole group.
    """
    names = {info.name: info for info in app.registered_commands if isinstance(info.name, str)}
    groups = {info.name: info for info in app.registered_groups if isinstance(info.name, str)}
    named = next((word for word in args if word in names or word in groups), None)
    if named is None and any(word in ("-h", "--help") for word in args):
        return typer.main.get_command(_outline(app))
    if named is None or any(word in ("-h", "--help") for word in args[: args.index(named)]):
        return typer.main.get_command(app)
    alone = copy.copy(app)
    alone.registered_commands = [names[named]] if named in names else []
    alone.registered_groups = [groups[named]] if named in groups else []
    group = typer.main.get_command(alone)
    index = command_index(group, args)
    if index < len(args) and args[index] == named:
        return group
    return typer.main.get_command(app)


def _outline(app: typer.Typer) -> typer.Typer:
    """`app` with each command's parameters left out: all that `usage --help` shows of a
    command is its name and the first line of its help, and building the parameters of
    every command was half the time that help took."""
    outline = copy.copy(app)
    outline.registered_commands = []
    for info in app.registered_commands:
        stub = copy.copy(info)
        if stub.help is None and info.callback is not None:
            stub.help = inspect.getdoc(info.callback)
        stub.callback = _no_parameters
        outline.registered_commands.append(stub)
    outline.registered_groups = []
    for group in app.registered_groups:
        stub_group = copy.copy(group)
        if group.typer_instance is not None:
            stub_group.typer_instance = _outline(group.typer_instance)
        outline.registered_groups.append(stub_group)
    return outline


def _no_parameters() -> None:
    """Never called: the stand-in of a command in the outline `usage --help` draws."""


def is_no_args_help(exc: BaseException) -> bool:
    """`usage` (or `usage config`) with nothing after it: help, as a usage error."""
    from typer._click.exceptions import NoArgsIsHelpError

    return isinstance(exc, NoArgsIsHelpError)


def usage_error_parts(exc: Any, whole: Callable[[], Any] | None = None) -> tuple[str, str | None]:
    """A usage error as one line, and a hint naming the command's --help.

    `whole` gives the group with every command on it: an option this command
    lacks but another has is named where it lives (`usage summary --by`).
    """
    ctx = getattr(exc, "ctx", None)
    hint = "try 'usage --help'" if ctx is None else f"try '{ctx.command_path} --help'"
    message: str = exc.format_message()
    name = getattr(exc, "option_name", None)
    if isinstance(name, str) and getattr(exc, "possibilities", None) is not None:
        # click offers every near word (`--bot`: --bot-id, --db, --format), by a
        # measure loose enough to offer --columns for --bogus; the tool names
        # the one meant, if any was, as its own unknown values do.
        best = closest_option(name, _options_in_reach(ctx))
        if best is None and ctx is not None and whole is not None:
            best = _elsewhere(name, ctx, whole())
        message = f"No such option: {name}" + (f" (did you mean {best!r}?)" if best else "")
    return message, hint


def _options_in_reach(ctx: Any) -> list[str]:
    """Every option word that could follow the command of `ctx`: its own, then those
    of the groups above it (hoisted, they work after the command's name too)."""
    words: list[str] = []
    while ctx is not None:
        words += _shown_options(ctx.command)
        ctx = ctx.parent
    return words


def _shown_options(command: Any) -> list[str]:
    """The option words of `command` that its help shows (a hidden one is kept for old
    scripts, not offered)."""
    return [
        opt
        for param in command.params
        if param.param_type_name == "option" and not getattr(param, "hidden", False)
        for opt in (*param.opts, *param.secondary_opts)
    ]


def _elsewhere(word: str, ctx: Any, group: Any) -> str | None:
    """`usage OTHER WORD` for the first command (in help's order) that takes `word`,
    when the command of `ctx` does not: `list --by` is `summary --by`."""
    path = ctx.command_path.split()[1:]
    for name in group.list_commands(ctx):
        command = group.get_command(ctx, name)
        others = [(name, command)]
        subcommands = getattr(command, "commands", {})
        others += [(f"{name} {sub}", each) for sub, each in subcommands.items()]
        for other, each in others:
            if other != " ".join(path) and word in _shown_options(each):
                return f"usage {other} {word}"
    return None


def closest_option(word: str, options: list[str]) -> str | None:
    """The option `word` was a plausible typo of, if any: the only one it begins,
    else the nearest within a few keystrokes.

    The allowance grows with the word: one slip in a short name (`--formt`,
    `--metta`), two in a long one (`--conversaton-di`); none in a name of two
    letters, where one changed letter is another word (`--by` is not `--db`).
    """
    bare = word.lstrip("-")
    names = {option: option.lstrip("-") for option in options if option.startswith("--")}
    started = [option for option, name in names.items() if bare and name.startswith(bare)]
    if len(started) == 1 and len(bare) >= 2:
        return started[0]
    allowed = 0 if len(bare) <= 2 else 1 if len(bare) <= 5 else 2
    near = sorted(
        (distance, index, option)
        for index, (option, name) in enumerate(names.items())
        if (distance := _keystrokes(bare, name)) <= allowed
    )
    return near[0][2] if near else None


def _keystrokes(a: str, b: str) -> int:
    """Edits (a letter added, dropped, changed, or two swapped) that make `a` into `b`."""
    previous2: list[int] = []
    previous = list(range(len(b) + 1))
    for i, x in enumerate(a, 1):
        current = [i]
        for j, y in enumerate(b, 1):
            cost = min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (x != y))
            if i > 1 and j > 1 and x == b[j - 2] and a[i - 2] == y:
                cost = min(cost, previous2[j - 2] + 1)
            current.append(cost)
        previous2, previous = previous, current
    return previous[-1]


def takes_value(param: Any) -> bool:
    return not (getattr(param, "is_flag", False) or getattr(param, "count", False))


def option_arity(command: Any, *, secondary: bool = True, nested: bool = True) -> dict[str, bool]:
    """Every option word of `command` (`nested`: and of its subcommands), and whether it
    takes a value; `secondary` adds the off-switches of on/off flags."""
    return {opt: takes for opt, (_, takes, _) in options_of(command, secondary, nested).items()}


def options_of(
    command: Any, secondary: bool = True, nested: bool = True
) -> dict[str, tuple[str, bool, bool]]:
    """Option word -> (parameter name, takes a value, may repeat), as `option_arity`."""
    commands = [command, *(getattr(command, "commands", {}).values() if nested else ())]
    return {
        opt: (param.name, takes_value(param), bool(getattr(param, "multiple", False)))
        for each in commands
        for param in each.params
        if param.param_type_name == "option"
        for opt in (*param.opts, *(param.secondary_opts if secondary else ()))
    }


def subcommand(group: Any, name: str) -> Any | None:
    """The command called `name` directly under `group`, if there is one."""
    commands: dict[str, Any] = getattr(group, "commands", {})
    return commands.get(name)


# Typer's completion protocol: set, `usage` answers a TAB (scripts made before
# the completion scripts carried their own lists still call it).
COMPLETE_VAR = "_USAGE_COMPLETE"


def enable_completion() -> None:
    """Register Typer's shell classes; called only when a shell asks for completions."""
    from typer import _completion_classes

    _completion_classes.completion_init()
    # zsh and fish show option help beside each candidate, and Typer passes it
    # through rich to strip markup. Our help is plain text, and importing rich
    # (markdown included) would be most of the time a TAB takes.
    _completion_classes._sanitize_help_text = _plain


def _plain(text: str) -> str:
    return text
