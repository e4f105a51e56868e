"""Shell completion scripts for bash, zsh and fish, generated from the CLI itself.

A TAB that ran the Python CLI took about 100 ms, most of it Typer's import. So
the scripts carry, baked in when they are generated, everything that does not
change between TABs: the commands, each command's flags (the global ones
included, since they are accepted after the command name too) and the fixed
values of options and arguments (formats, `--by` words, `--order`,
`--partition`, `--type`'s usage types, `--columns` names, `--compare previous`,
`config set` keys, time zones). One POSIX sh core walks the words and prints
the candidates; bash and zsh run it as shell functions, and fish through `sh`.
Only what lives outside the scripts asks `usage`: `--profile` (the profiles of
the user's config file). File names are the shell's.

Regenerate them after changing a command or flag (a test fails when stale):

    python -m usage_cli.cli.completion completions/

`enable_completion` keeps Typer's own protocol (`_USAGE_COMPLETE`) answering,
for scripts generated before these.
"""

from __future__ import annotations

import sys
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from usage_cli.cli._typer_internals import COMPLETE_VAR, enable_completion

SHELLS = ("bash", "zsh", "fish")

__all__ = ["COMPLETE_VAR", "SHELLS", "enable_completion", "script", "spec", "write_all"]

# Kinds of value, as the core's one-letter codes: `w` fixed words, `z` time
# zones, `c` a comma list of columns, `p` profiles (asks `usage`), `f` a path,
# `o` an optional path (`--db`: the word after it is its value unless it is a
# flag), `t` free text (no candidates), `k` config keys, `v` a config value
# (by its key: a zone for tz, a path for prices).
FILES = "f"
TEXT = "t"


@dataclass
class Spec:
    """What the scripts know without asking `usage`."""

    commands: list[str]
    groups: dict[str, list[str]]
    flags: dict[str, list[str]]  # path ("" for the root, "config set") -> its flags
    global_flags: list[str]
    # (path, option) -> kind, with its words for `w`; path "*" for the global ones.
    values: dict[tuple[str, str], tuple[str, tuple[str, ...]]]
    arguments: dict[str, list[tuple[str, tuple[str, ...]]]]  # path -> each argument's kind
    zones: list[str]
    columns: list[str] = field(default_factory=list)


def _usage_types() -> tuple[str, ...]:
    """The usage types the bundled price table names, and those it prices by wildcard
    among the API's types the sandbox serves (a table entry may be `OPENAI_GPT_4O*`)."""
    import tomllib
    from fnmatch import fnmatchcase

    from usage_cli.prices import bundled_bytes
    from usage_cli.sandbox.data import TYPES

    patterns = [row["type"] for row in tomllib.loads(bundled_bytes().decode())["price"]]
    exact = [p for p in patterns if "*" not in p]
    matched = [t for t in TYPES if any(fnmatchcase(t, p) for p in patterns if "*" in p)]
    unpriced = [t for t in TYPES if t not in matched]
    return tuple(dict.fromkeys([*exact, *matched, *unpriced]))


def _fixed_values() -> dict[str, tuple[str, tuple[str, ...]]]:
    """Values by option word that no click type carries (their options take text)."""
    from usage_cli import config
    from usage_cli.evidence import PERIODS
    from usage_cli.summary import BUCKETS, DIMENSIONS

    return {
        "--type": ("w", _usage_types()),
        "--tz": ("z", ()),
        "--columns": ("c", ()),
        "--compare": ("w", ("previous",)),
        "--window": ("w", tuple(PERIODS)),
        "--profile": ("p", ()),
        "--prices": (FILES, ()),
        "--signers": (FILES, ()),
        "summary --by": ("w", (*DIMENSIONS, "meta.")),
        # A check measures one window as a whole: no time buckets.
        "check --by": ("w", (*(d for d in DIMENSIONS if d not in BUCKETS), "meta.")),
        "config": ("k", config.KEYS),
    }


def _columns() -> list[str]:
    from usage_cli.columns import CSV_COLUMNS, META_PREFIX

    return [*CSV_COLUMNS, "cost", META_PREFIX]


def _zones() -> list[str]:
    import zoneinfo

    from usage_cli.zones import LOCAL

    return sorted({*zoneinfo.available_timezones(), "UTC", LOCAL})


def _kind_of(param: Any, path: str, fixed: dict[str, Any], command: Any) -> Any:
    import typer

    from usage_cli.cli._argv import OPTIONAL_VALUE_OPTIONS

    words = (*param.opts, *param.secondary_opts)
    name = path.split(" ")[0]
    for word in words:
        if f"{name} {word}" in fixed:
            return fixed[f"{name} {word}"]
        if word in fixed:
            return fixed[word]
        if word in OPTIONAL_VALUE_OPTIONS:
            return ("o", ())
    # Click's own answer for a choice (Typer 0.29 keeps no `param.type`).
    items = param.shell_complete(typer.Context(command), "")
    if items and all(item.type == "plain" for item in items):
        return ("w", tuple(str(item.value) for item in items))
    metavar = (param.metavar or "").strip("[]").split("...")[0]
    if metavar in ("PATH", "FILE", "DIR") or param.name in ("path", "paths", "target"):
        return (FILES, ())
    return (TEXT, ())


def _walk(command: Any, path: str, spec: Spec, fixed: dict[str, Any], depth: int) -> None:
    from usage_cli.cli._typer_internals import takes_value

    flags: list[str] = []
    arguments: list[tuple[str, tuple[str, ...]]] = []
    for param in command.params:
        if getattr(param, "hidden", False):
            continue
        if param.param_type_name == "argument":
            arguments.append(_argument_kind(param, path, fixed, command))
            continue
        flags += [*param.opts, *param.secondary_opts]
        if takes_value(param):
            kind = _kind_of(param, path, fixed, command)
            for word in (*param.opts, *param.secondary_opts):
                spec.values[("*" if depth == 0 else path, word)] = kind
    flags += ["-h", "--help"]
    spec.flags[path] = flags
    spec.arguments[path] = arguments
    subcommands = getattr(command, "commands", {})
    visible = [name for name, sub in subcommands.items() if not getattr(sub, "hidden", False)]
    if depth == 0:
        spec.commands = visible
    elif visible:
        spec.groups[path] = visible
    for name in visible:
        _walk(subcommands[name], f"{path} {name}".strip(), spec, fixed, depth + 1)


def _argument_kind(
    param: Any, path: str, fixed: dict[str, Any], command: Any
) -> tuple[str, tuple[str, ...]]:
    if path.startswith("config "):
        return ("k", fixed["config"][1]) if param.name == "key" else ("v", ())
    if path == "prices":
        return fixed["--type"]  # type: ignore[no-any-return]
    return _kind_of(param, path, fixed, command)  # type: ignore[no-any-return]


def spec() -> Spec:
    """The commands, flags and fixed values of the CLI as it is defined now."""
    import typer

    from usage_cli.cli import app

    root = typer.main.get_command(app)
    built = Spec([], {}, {}, [], {}, {}, [])
    _walk(root, "", built, _fixed_values(), 0)
    built.global_flags = [f for f in built.flags[""] if f not in ("-h", "--help", "--version")]
    built.zones = _zones()
    built.columns = _columns()
    return built


def _words(words: Iterable[str]) -> str:
    return "'" + " ".join(words) + "'"


def _case_line(patterns: list[str], body: str) -> str:
    return "    " + "|".join(f"'{p}'" if " " in p else p for p in patterns) + ") " + body + " ;;"


def _data(built: Spec) -> str:
    """The baked-in lists, as POSIX sh functions and variables."""
    lines = [
        "_usage_commands=" + _words(built.commands),
        "_usage_zones=" + _words(built.zones),
        "_usage_regions=" + _words(_regions(built.zones)),
        "_usage_columns=" + _words(built.columns),
        "",
        "# The subcommands of a group.",
        "_usage_group() {",
        "    case $1 in",
    ]
    lines += [_case_line([g], f"_usage_r={_words(subs)}") for g, subs in built.groups.items()]
    lines += ["    *) _usage_r= ;;", "    esac", "}", ""]
    lines += ["# A command's own flags (the global ones are added to every command).", ""]
    lines += ["_usage_flags() {", "    case $1 in"]
    for path, flags in built.flags.items():
        if path in built.groups:
            flags = [f for f in flags if f not in built.global_flags] + ["-h", "--help"]
        lines.append(_case_line([path or '""'], f"_usage_r={_words(dict.fromkeys(flags))}"))
    lines += ["    esac", "}", ""]
    lines += ["# What option $2 of command $1 takes: a kind, and its words.", ""]
    lines += ["_usage_option() {", '    case "$1 $2" in']
    # One line per kind; the global options last, so that a command's own option of
    # the same name would win.
    by_kind: dict[tuple[bool, str, tuple[str, ...]], list[str]] = {}
    for (path, word), (code, words) in built.values.items():
        pattern = f"*' {word}'" if path == "*" else f"'{path} {word}'"
        by_kind.setdefault((path == "*", code, words), []).append(pattern)
    for (_, code, words), patterns in sorted(by_kind.items(), key=lambda item: item[0][0]):
        lines.append("    " + "|".join(patterns) + f") _usage_k={code} _usage_r={_words(words)} ;;")
    lines += ["    *) _usage_k= _usage_r= ;;", "    esac", "}", ""]
    lines += ["# What argument $2 (1 for the first) of command $1 takes.", ""]
    lines += ["_usage_argument() {", '    case "$1 $2" in']
    for path, arguments in built.arguments.items():
        for index, (code, words) in enumerate(arguments, start=1):
            many = index == len(arguments) and code == FILES
            pattern = f"'{path} '*" if many else f"'{path} {index}'"
            lines.append(f"    {pattern}) _usage_k={code} _usage_r={_words(words)} ;;")
    lines += ["    *) _usage_k=t _usage_r= ;;", "    esac", "}"]
    return "\n".join(lines) + "\n"


def _regions(zones: list[str]) -> list[str]:
    """The first step of a zone: `Europe/` for every `Europe/...`, whole names for the rest."""
    return list(dict.fromkeys(z.split("/")[0] + "/" if "/" in z else z for z in zones))


CORE = r"""
# The candidates for the last of "$@" (the words after `usage`), one a line,
# after a line with the mode: w (words), n (words, no space after: a zone's
# region, a column list), f (file names: the shell's own completion).
_usage_candidates() {
    unset IFS
    _usage_path= _usage_expect= _usage_npos=0 _usage_first= _usage_dd=
    while [ $# -gt 1 ]; do
        _usage_w=$1
        shift
        if [ -n "$_usage_expect" ]; then
            _usage_expect=
            case $_usage_k$_usage_w in o-*) ;; *) continue ;; esac
        fi
        case $_usage_dd$_usage_w in
        --) _usage_dd=1 ;;
        -*=*) ;;
        -*)
            _usage_option "$_usage_path" "$_usage_w"
            [ -n "$_usage_k" ] && _usage_expect=1 ;;
        *)
            _usage_group "$_usage_path"
            if [ -z "$_usage_path" ] && _usage_in "$_usage_w" "$_usage_commands"; then
                _usage_path=$_usage_w
            elif [ -n "$_usage_r" ] && _usage_in "$_usage_w" "$_usage_r"; then
                _usage_path="$_usage_path $_usage_w"
            else
                _usage_npos=$((_usage_npos + 1))
                [ $_usage_npos = 1 ] && _usage_first=$_usage_w
            fi ;;
        esac
    done
    _usage_cur=$1 _usage_pre=
    case $_usage_k$_usage_cur in o-*) _usage_expect= ;; esac
    if [ -n "$_usage_expect" ]; then
        :
    else
        case $_usage_dd$_usage_cur in
        --*=*)
            _usage_pre=${_usage_cur%%=*}=
            _usage_option "$_usage_path" "${_usage_cur%%=*}"
            _usage_cur=${_usage_cur#*=} ;;
        -*)
            _usage_flags "$_usage_path"
            _usage_k=w
            [ -n "$_usage_path" ] && _usage_r="$_usage_r $_usage_global" ;;
        *)
            _usage_group "$_usage_path"
            if [ -z "$_usage_path" ]; then
                _usage_k=w _usage_r=$_usage_commands
            elif [ -n "$_usage_r" ]; then
                _usage_k=w
            else
                _usage_argument "$_usage_path" $((_usage_npos + 1))
            fi ;;
        esac
    fi
    _usage_values
}

_usage_in() {
    case " $2 " in *" $1 "*) return 0 ;; esac
    return 1
}

# The candidates of kind $_usage_k (words $_usage_r) that start with $_usage_cur.
_usage_values() {
    _usage_mode=w
    case $_usage_k in
    f|o) printf 'f\n'; return ;;
    v)
        case $_usage_first in
        tz) _usage_k=z ;;
        prices) printf 'f\n'; return ;;
        *) _usage_k=t ;;
        esac ;;
    k) _usage_k=w ;;
    c)
        # A comma list: complete its last name, the ones before kept.
        case $_usage_cur in
        *,*) _usage_pre=$_usage_pre${_usage_cur%,*}, _usage_cur=${_usage_cur##*,} ;;
        esac
        _usage_r=$_usage_columns _usage_mode=n ;;
    p)
        # Profiles live in the user's config file: the one case that asks usage.
        _usage_r=$(usage config list 2>/dev/null | cut -f1) ;;
    esac
    if [ "$_usage_k" = z ]; then
        case $_usage_cur in
        */*) _usage_r=$_usage_zones ;;
        *) _usage_r=$_usage_regions ;;
        esac
    fi
    [ "$_usage_k" = t ] && _usage_r=
    _usage_out= _usage_all=1
    for _usage_w in $_usage_r; do
        case $_usage_w in
        "$_usage_cur"*)
            _usage_out="$_usage_out
$_usage_pre$_usage_w"
            case $_usage_w in */|*.) ;; *) _usage_all= ;; esac ;;
        esac
    done
    [ -n "$_usage_out" ] && [ -n "$_usage_all" ] && _usage_mode=n
    printf '%s%s\n' "$_usage_mode" "$_usage_out"
}
"""

BASH = r"""
_usage_completion() {
    local IFS=$'\n' i w glued= n=0 strip= cur=${COMP_WORDS[COMP_CWORD]}
    local -a words=()
    # bash splits `--tz=Eur` at the `=` (COMP_WORDBREAKS): join the pieces again,
    # and take the candidates' `--tz=` off, since bash replaces only `Eur`.
    for ((i = 1; i <= COMP_CWORD; i++)); do
        w=${COMP_WORDS[i]}
        if [[ $w == = && $n -gt 0 ]]; then
            words[n - 1]+==
            glued=1
        elif [[ -n $glued ]]; then
            words[n - 1]+=$w
            glued=
        else
            words[n]=$w
            n=$((n + 1))
        fi
    done
    if [[ $cur == = ]]; then
        strip=${words[n - 1]}
    elif ((COMP_CWORD > 1)) && [[ ${COMP_WORDS[COMP_CWORD - 1]} == = ]]; then
        strip=${words[n - 1]%"$cur"}
    fi
    local -a out=($(_usage_candidates "${words[@]}"))
    COMPREPLY=("${out[@]:1}")
    [[ -n $strip ]] && COMPREPLY=("${COMPREPLY[@]#"$strip"}")
    case ${out[0]} in
    f) COMPREPLY=(); compopt -o default 2>/dev/null ;;
    n) compopt -o nospace 2>/dev/null ;;
    esac
    return 0
}

complete -F _usage_completion usage
"""

ZSH = r"""
_usage_complete_words() {
    emulate -L sh
    _usage_candidates "$@"
}

_usage() {
    local -a out
    out=("${(@f)$(_usage_complete_words "${(@)words[2,CURRENT]}")}")
    case ${out[1]} in
    f) _files ;;
    n) compadd -Q -S '' -- "${(@)out[2,-1]}" ;;
    *) compadd -Q -- "${(@)out[2,-1]}" ;;
    esac
}

if [ "$funcstack[1]" = _usage ]; then
    _usage "$@"
else
    compdef _usage usage
fi
"""

FISH = r"""
function __usage_complete
    set -l cur (commandline -ct)
    set -l words (commandline -opc) "$cur"
    set -l out (sh -c "$__usage_core"'
_usage_candidates "$@"' usage $words[2..-1])
    switch "$out[1]"
        case f
            __fish_complete_path "$cur"
        case '*'
            printf '%s\n' $out[2..-1]
    end
end

complete --command usage --no-files --arguments '(__usage_complete)'
"""


def _fish_quoted(text: str) -> str:
    return "'" + text.replace("\\", "\\\\").replace("'", "\\'") + "'"


def script(shell: str) -> str:
    """The completion script of `shell`, its lists taken from the CLI as defined now."""
    built = spec()
    header = (
        f"# usage completion for {shell}: generated by `python -m usage_cli.cli.completion`;\n"
        "# do not edit. Commands, flags and fixed values are baked in; TAB runs no Python\n"
        "# but for --profile (the profiles of your config file).\n"
    )
    global_line = "_usage_global=" + _words(built.global_flags) + "\n"
    core = _data(built) + global_line + CORE
    if shell == "bash":
        return header + core + BASH
    if shell == "zsh":
        return "#compdef usage\n" + header + core + ZSH
    if shell == "fish":
        return header + "set -g __usage_core " + _fish_quoted(core) + "\n" + FISH
    raise ValueError(f"no completion for {shell!r}: {', '.join(SHELLS)}")


def write_all(directory: Path) -> list[Path]:
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    for shell in SHELLS:
        path = directory / f"usage.{shell}"
        path.write_text(script(shell), encoding="utf-8")
        written.append(path)
    return written


if __name__ == "__main__":
    for path in write_all(Path(sys.argv[1] if len(sys.argv) > 1 else "completions")):
        print(path)
