"""Shell command lines as the user's deny and allow rules see them: parsed, not matched as text.

A line is split into its simple commands (at ``;``, ``&``, ``&&``, ``||``, ``|``, newlines, subshells and
braces, inside ``$(...)``, backticks, ``bash -c '...'``, ``eval``, ``xargs`` and ``find -exec``), each made
plain: wrappers dropped (``env X=1``, ``sudo``, ``nice``, ``nohup``, ``timeout 5``, ``command``, ``exec``...),
``/bin/rm`` and ``\\rm`` become ``rm``, git's global options (``git -C . push``) go, and short flags are
merged (``-r -f`` and ``-fr`` both read ``-rf`` as well as ``-fr``; ``--recursive`` and ``--force`` count as
``-r`` and ``-f``). ``spellings`` gives the strings a rule may match for each simple command.

Deny rules match when any spelling of any simple command (or the raw line) matches; allow rules only when
every simple command is matched, so ``pytest; rm -rf ~`` is not allowed by ``pytest*``. Not seen through:
commands built at run time (``$X push``, ``"r""m"`` is seen, ``${CMD}`` is not), aliases and functions, and
scripts the line runs. Pure functions.
"""

from __future__ import annotations

import itertools
import os
import re
import shlex
from collections.abc import Callable

SEPARATORS = frozenset({";", "&", "&&", "||", "|", "|&", "(", ")", ";;", "{", "}", "!", "$", "`"})
REDIRECTS = re.compile(r"^\d*(?:[<>]+|[<>]&|&>>?|>\|)$")
KEYWORDS = frozenset({"if", "then", "else", "elif", "fi", "do", "done", "while", "until", "case", "esac",
                      "in", "function", "select", "coproc"})
SHELLS = frozenset({"sh", "bash", "dash", "zsh", "ksh", "mksh", "ash", "busybox"})
# Wrappers: name -> options that take a value (the wrapped command follows the options).
WRAPPERS: dict[str, frozenset[str]] = {
    "env": frozenset({"-u", "-C", "-S"}), "sudo": frozenset({"-u", "-g", "-C", "-D", "-h", "-p", "-U", "-r", "-t"}),
    "doas": frozenset({"-u", "-C"}), "nice": frozenset({"-n"}), "ionice": frozenset({"-c", "-n", "-p"}),
    "nohup": frozenset(), "command": frozenset(), "builtin": frozenset(), "exec": frozenset({"-a"}),
    "time": frozenset({"-f", "-o"}), "setsid": frozenset(), "stdbuf": frozenset({"-i", "-o", "-e"}),
    "timeout": frozenset({"-s", "-k", "--signal", "--kill-after"}), "chronic": frozenset(),
    "unbuffer": frozenset(), "chrt": frozenset(), "taskset": frozenset(), "xargs": frozenset(
        {"-I", "-i", "-n", "-P", "-L", "-l", "-s", "-d", "-E", "-a", "--max-args", "--max-procs", "--delimiter"}),
}
TAKES_COUNT = frozenset({"timeout", "chrt", "taskset"})  # a positional value before the command
GIT_VALUE_OPTIONS = frozenset({"-C", "-c", "--git-dir", "--work-tree", "--namespace", "--exec-path"})
LONG_AS_SHORT = {"--recursive": "r", "--force": "f"}
_ASSIGNMENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*=")
_SHORT_FLAGS = re.compile(r"^-[A-Za-z]+$")
_SUBSTITUTION = re.compile(r"\$\(((?:[^()]|\([^()]*\))*)\)|`([^`]*)`|<\(([^()]*)\)")
_MAX_DEPTH = 6
_MAX_PERMUTED = 4


def _tokens(line: str) -> list[str] | None:
    # Newlines end commands; backticks are split off so that `cmd` reads as a command of its own.
    lexer = shlex.shlex(line.replace("\n", " ; ").replace("`", " ` "), posix=True, punctuation_chars=True)
    lexer.whitespace_split = True
    lexer.commenters = ""
    try:
        return list(lexer)
    except ValueError:  # an unclosed quote: bash would refuse it too; read it word by word
        return None


def _split(tokens: list[str]) -> list[list[str]]:
    commands: list[list[str]] = [[]]
    skip_next = False
    for i, token in enumerate(tokens):
        if skip_next:
            skip_next = False
            continue
        following = tokens[i + 1] if i + 1 < len(tokens) else ""
        if token.isdigit() and len(token) == 1 and REDIRECTS.match(following):
            continue  # the 2 of 2>/dev/null
        if token in SEPARATORS:
            commands.append([])
        elif REDIRECTS.match(token):
            skip_next = True  # the file it names is not an argument
        else:
            commands[-1].append(token)
    return [c for c in commands if c]


def _unwrap(argv: list[str]) -> list[str]:
    """Drop assignments, keywords and wrappers in front of the real command; ``/bin/rm`` -> ``rm``."""
    while argv:
        head = argv[0]
        if _ASSIGNMENT.match(head) or head in KEYWORDS:
            argv = argv[1:]
            continue
        name = os.path.basename(head)
        if name not in WRAPPERS:
            break
        rest = argv[1:]
        while rest and rest[0].startswith("-") and rest[0] != "-":
            takes = rest[0] in WRAPPERS[name]
            rest = rest[2:] if takes else rest[1:]
        while name == "env" and rest and _ASSIGNMENT.match(rest[0]):
            rest = rest[1:]
        if name in TAKES_COUNT and rest:
            rest = rest[1:]
        argv = rest
    if argv:
        argv = [os.path.basename(argv[0]) or argv[0], *argv[1:]]
    if argv and argv[0] == "git":
        rest = argv[1:]
        while rest and rest[0].startswith("-"):
            rest = rest[2:] if rest[0] in GIT_VALUE_OPTIONS else rest[1:]
        argv = ["git", *rest]
    return argv


def _inner_lines(argv: list[str]) -> list[str]:
    """Command lines an argv runs in turn: ``bash -c LINE``, ``eval WORDS``, ``find -exec CMD``, ``xargs``."""
    name = argv[0]
    if name in SHELLS:
        for i, arg in enumerate(argv[1:], 1):
            if re.fullmatch(r"-[A-Za-z]*c[A-Za-z]*", arg) and i + 1 < len(argv):
                return [argv[i + 1]]
    if name == "eval":
        return [" ".join(argv[1:])]
    if name == "find":
        for i, arg in enumerate(argv):
            if arg in ("-exec", "-execdir", "-ok", "-okdir"):
                inner = list(itertools.takewhile(lambda a: a not in (";", "+"), argv[i + 1:]))
                return [shlex.join(inner)] if inner else []
    return []


def simple_commands(line: str, depth: int = 0) -> list[list[str]]:
    """The simple commands ``line`` runs, each as a plain argv (see the module docstring)."""
    if depth > _MAX_DEPTH:
        return []
    tokens = _tokens(line)
    if tokens is None:
        tokens = line.replace(";", " ; ").replace("|", " | ").replace("&", " & ").split()
    found: list[list[str]] = []
    for raw in _split(tokens):
        argv = _unwrap(raw)
        if argv:
            found.append(argv)
            for inner in _inner_lines(argv):
                found += simple_commands(inner, depth + 1)
        for token in raw:
            for groups in _SUBSTITUTION.findall(token):
                inner = next((g for g in groups if g.strip()), "")
                found += simple_commands(inner, depth + 1) if inner else []
    return found


def _flag_forms(argv: list[str]) -> list[list[str]]:
    """``argv`` with its short flags merged into one cluster, in each order, both where the first flag was
    and right after the command name."""
    letters: list[str] = []
    first = None
    rest: list[str] = []
    for arg in argv[1:]:
        short = LONG_AS_SHORT.get(arg) or (arg[1:] if _SHORT_FLAGS.match(arg) else "")
        if short:
            first = len(rest) if first is None else first
            letters += [c for c in short if c not in letters]
        else:
            rest.append(arg)
    if not letters or first is None:
        return []
    orders = (["".join(p) for p in itertools.permutations(letters)] if len(letters) <= _MAX_PERMUTED
              else ["".join(letters), "".join(sorted(letters))])
    forms = []
    for order in orders:
        forms.append([argv[0], *rest[:first], "-" + order, *rest[first:]])
        if first:
            forms.append([argv[0], "-" + order, *rest])
    return forms


def spellings(argv: list[str]) -> list[str]:
    """The strings a rule may match for one simple command: as written (made plain), and with its flags merged."""
    out = [" ".join(argv)]
    for form in _flag_forms(argv):
        text = " ".join(form)
        if text not in out:
            out.append(text)
    return out


def any_command_matches(line: str, match: Callable[[str], bool]) -> bool:
    """For deny rules: the raw line, or any spelling of any simple command in it, matches."""
    return match(line) or any(match(s) for argv in simple_commands(line) for s in spellings(argv))


HARMLESS = frozenset({"true", "false", ":"})
"""Simple commands that need no allow rule of their own (``pytest || true``)."""


def every_command_matches(line: str, match: Callable[[str], bool]) -> bool:
    """For allow rules: every simple command in ``line`` (but ``true``, ``false``, ``:``) has a spelling that
    matches, and there is at least one."""
    commands = [argv for argv in simple_commands(line) if argv[0] not in HARMLESS or len(argv) > 1]
    return bool(commands) and all(any(match(s) for s in spellings(argv)) for argv in commands)
