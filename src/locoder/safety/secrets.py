"""Finding secrets in text and environments, so that tool output, audit records and the environment of
model-run commands carry no credentials.

Everything here is a pure function. False positives are costly (the model must still read code), so the
detectors are specific: tokens with a known prefix, and secret-named fields only when their value is a
literal, never when it is an expression such as ``password = input()``.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Iterable, Mapping
from typing import Any
from urllib.parse import unquote

PLACEHOLDER_PREFIX = "[REDACTED:"

# Shortest value worth redacting in a secret-named field; shorter ones are placeholders or flags.
_MIN_FIELD_VALUE = 4
# Shortest environment value treated as a secret (brief: longer than 5 characters).
_MIN_ENV_VALUE = 6

_NAME_WORDS = ("KEY", "TOKEN", "SECRET", "PASSWORD", "PASSWD", "CREDENTIAL")
WELL_KNOWN_SECRET_NAMES = frozenset({
    "OPENAI_API_KEY", "ANTHROPIC_API_KEY", "HF_TOKEN", "HUGGING_FACE_HUB_TOKEN", "GITHUB_TOKEN", "GH_TOKEN",
    "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "CONTEXT7_API_KEY",
})
# Names that contain a secret word but hold settings every tool expects to see.
_NOT_SECRET_NAMES = frozenset({"TOKENIZERS_PARALLELISM"})

# A field whose last name part is one of these holds something about a secret, not the secret itself.
_META_WORDS = frozenset({
    "budget", "cache", "callback", "char", "chars", "class", "cls", "count", "counter", "dir", "directory",
    "enabled", "endpoint", "env", "error", "expiration", "expires", "expiry", "field", "fields", "file",
    "files", "fmt", "format", "func", "handler", "header", "help", "hint", "host", "id", "ids", "idx",
    "index", "kind", "label", "len", "length", "limit", "limits", "list", "location", "max", "message",
    "method", "min", "mode", "msg", "name", "names", "parser", "path", "paths", "pattern", "patterns",
    "policy", "prefix", "prompt", "provider", "rate", "re", "regex", "required", "schema", "scope",
    "scopes", "size", "source", "store", "suffix", "template", "timeout", "ttl", "type", "types", "uri",
    "url", "urls", "usage", "validator", "var", "variable",
})
# `<qualifier>_key` is a secret; `sort_key`, `primary_key` and plain `key` are not.
_KEY_QUALIFIERS = frozenset({
    "access", "account", "admin", "anthropic", "api", "app", "application", "auth", "azure", "client",
    "consumer", "deploy", "enc", "encrypt", "encryption", "gemini", "groq", "hmac", "jwt", "license",
    "licence", "master", "mistral", "openai", "private", "secret", "server", "service", "session",
    "shared", "sign", "signing", "stripe", "subscription", "webhook",
})
# `<qualifier>_token` that names a vocabulary or pagination token, not a credential.
_NON_SECRET_TOKENS = frozenset({
    "added", "bos", "cls", "continuation", "cur", "current", "end", "eom", "eos", "eot", "fim", "first",
    "image", "im", "input", "last", "mask", "max", "middle", "min", "new", "next", "num", "output", "pad",
    "page", "peek", "prev", "sep", "special", "start", "stop", "think", "tool", "total", "unk",
})
_SECRET_SUFFIXES = ("password", "passwd", "passphrase", "secret", "credential", "credentials", "creds")

# Values that are configuration words, auth schemes or documentation placeholders, not secrets.
_NOT_SECRET_WORDS = frozenset({
    "none", "null", "nil", "true", "false", "yes", "no", "on", "off", "undefined",
    "bearer", "basic", "digest",
    # placeholders in documentation: `--secrets KEY=value`
    "value", "secret", "password", "passwd", "token", "apikey", "api_key", "xxxx", "xxxxxxxx",
})
_REFERENCE_STARTS = ("$", "%", "<", "{", "[", "(", "@", "*", "&", "!", "#", "|", ">", "`", ":", "\\")
_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_PLAIN_IDENTIFIER = re.compile(r"[A-Za-z_]+[.:]?")
_DOTTED_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)+")
_PLACEHOLDER_WORD = re.compile(r"[A-Z][A-Z_]*\.?")
# snake_case, camelCase and _private names without digits: "vocab_size", "challengePassword", "_RSAKey"
_CODE_NAME = re.compile(r"[a-z]+(?:_[a-z]+)+|[A-Za-z]*[a-z][A-Z][A-Za-z]*|_[A-Za-z_]+")
_VARIABLE_OR_HEADER = re.compile(r"[A-Z][A-Z0-9_]*|[A-Z][A-Za-z0-9]*(?:-[A-Z][A-Za-z0-9]*)+")
_NUMBER = re.compile(r"[-+]?[0-9][0-9_.]*(?:[eE][-+]?[0-9]+)?")
_NAME_PARTS = re.compile(r"[A-Z]+(?![a-z])|[A-Z]?[a-z]+|[0-9]+")

_PEM_BODY = r"[A-Za-z0-9+/=\s:,.\\-]"  # base64, header lines, and the \n escapes of a JSON string
_PEM_LINE = r"-----{0}[A-Z0-9 ]*PRIVATE KEY(?: BLOCK)?-----"
_PRIVATE_KEY = (
    _PEM_LINE.format("BEGIN")
    + rf"(?:{_PEM_BODY}*?{_PEM_LINE.format('END')}"
    + rf"|[ \t]*(?:\\n|\r?\n){_PEM_BODY}{{40,}})"  # a block cut off before its END line
)
_B = r"(?<![A-Za-z0-9_-])"  # a token starts at a boundary, never inside a longer word
_TOKEN_RULES = (
    ("private_key", _PRIVATE_KEY),
    ("anthropic_key", _B + r"sk-ant-[A-Za-z0-9_-]{20,}"),
    ("context7_key", _B + r"ctx7sk-[A-Za-z0-9_-]{16,}"),
    ("openai_key", _B + r"sk-(?=[A-Za-z0-9_-]*[0-9])[A-Za-z0-9_-]{20,}"),
    ("github_token", _B + r"(?:gh[pousr]_[A-Za-z0-9]{30,}|github_pat_[A-Za-z0-9_]{30,})"),
    ("huggingface_token", _B + r"hf_[A-Za-z0-9]{30,}(?![A-Za-z0-9_])"),
    ("aws_access_key_id", r"\b(?:AKIA|ASIA)[A-Z0-9]{16}\b"),
    ("slack_token", _B + r"xox[abprs]-[A-Za-z0-9-]{10,}"),
    ("google_api_key", _B + r"AIza[A-Za-z0-9_-]{35}(?![A-Za-z0-9_-])"),
    ("jwt", _B + r"eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]*"),
)
_NOT_PLACEHOLDER = r"(?!\[REDACTED:)"
_STRUCTURE_RULES = (
    ("url", r"(?P<url_keep>(?<![A-Za-z0-9+.-])[A-Za-z][A-Za-z0-9+.-]{0,30}://[^\s:/@'\"\[]*:)(?![$<{])"
            + _NOT_PLACEHOLDER + r"(?P<url_val>[^\s@/'\"]+)(?=@)"),
    ("auth", r"(?P<auth_keep>(?i:\bauthorization)[\"']?[ \t]*[:=][ \t]*[\"']?"
             r"(?P<auth_scheme>(?i:bearer|basic|token|bot))[ \t]+)"
             r"(?![$<{])(?P<auth_val>[A-Za-z0-9._~+/=-]{6,})"),
    # A bare `Bearer <token>` needs a digit in a long token: prose says "bearer tokens are ...".
    ("bearer", r"(?P<bearer_keep>\b[Bb]earer[ \t]+)(?=[A-Za-z0-9._~+/-]*[0-9])"
               r"(?P<bearer_val>[A-Za-z0-9._~+/=-]{16,})"),
    ("netrc", r"(?P<netrc_keep>\blogin[ \t]+\S+[ \t]+password[ \t]+)(?![$<{])(?P<netrc_val>\S+)"),
    ("curl_user", r"(?P<curl_user_keep>(?<![\w-])(?:-u|--user)[ \t]+[\"']?[^\s:'\"$]+:)(?![$<{])"
                  r"(?P<curl_user_val>[^\s'\"@]+)"),
    # Last, so that every rule above wins where both start at the same place.
    ("field", r"(?P<field_keep>(?<![\w.$-])(?P<field_dash>-{1,2})?[\"']?"
              r"(?P<field_name>(?=[\w.-]*?(?i:key|token|secret|pass|cred))[A-Za-z_][\w.-]*)[\"']?\]?"
              r"(?P<field_sep>[ \t]*(?:=>|:=|=(?!=)|:(?!:))[ \t]*))"
              r"(?P<field_val>[rbuRBU]{0,2}\"(?:[^\"\\\n]|\\.)*\"|[rbuRBU]{0,2}'(?:[^'\\\n]|\\.)*'"
              r"|[^\s'\"`,;)\]}]+)"),
)


def _placeholder(kind: str) -> str:
    return f"{PLACEHOLDER_PREFIX}{kind}]"


def _combine(rules: Iterable[tuple[str, str]]) -> re.Pattern[str]:
    return re.compile("|".join(f"(?P<{name}>{regex})" for name, regex in rules))


@functools.lru_cache(maxsize=1)
def _token_pattern() -> re.Pattern[str]:
    """Compiled on first use, not at import, so that importing locoder stays cheap."""
    return _combine(_TOKEN_RULES)


@functools.lru_cache(maxsize=1)
def _text_pattern() -> re.Pattern[str]:
    # One combined pattern: a single pass over the text, whatever the number of rules.
    # Every rule but the private key block starts after a character that is not part of a word or a
    # token; testing that first, once, makes the many positions inside words cheap to pass over. Each scan
    # from a start is bounded or stops at a boundary, so the whole stays linear (see the pathological tests).
    private_key, *rules = (*_TOKEN_RULES, *_STRUCTURE_RULES)
    alternatives = "|".join(f"(?P<{name}>{regex})" for name, regex in rules)
    guarded = f"(?<![A-Za-z0-9_-])(?=[A-Za-z_\"'-])(?:{alternatives})"
    return re.compile(f"(?P<{private_key[0]}>{private_key[1]})|{guarded}")


@functools.lru_cache(maxsize=32)
def _literal_pattern(values: tuple[str, ...]) -> re.Pattern[str] | None:
    # Longest first, so that a value containing another is replaced whole.
    wanted = sorted({v for v in values if len(v) >= _MIN_ENV_VALUE}, key=len, reverse=True)
    return re.compile("|".join(map(re.escape, wanted))) if wanted else None


def is_secret_name(name: str) -> bool:
    """The rule for environment variable names: any name containing KEY, TOKEN, SECRET, PASSWORD, PASSWD or
    CREDENTIAL (any case), plus the well-known names. Broad on purpose: hiding a variable from a model-run
    command costs little."""
    upper = name.upper()
    if upper in WELL_KNOWN_SECRET_NAMES:
        return True
    if upper in _NOT_SECRET_NAMES:
        return False
    return any(word in upper for word in _NAME_WORDS) or upper.endswith("_PASS")


# Name parts (between underscores) that mark a variable as carrying a credential, beyond ``is_secret_name``:
# MYSQL_PWD, PGPASSFILE-like *PASS*, NPM_CONFIG__AUTH, SENTRY_DSN, SLACK_WEBHOOK_URL, session cookies.
_ENV_PART_CONTAINS = ("PASS", "AUTH", "WEBHOOK", "COOKIE", "CREDS", "PRIVATE")
_ENV_PART_ENDS = ("PWD", "DSN")
# Ordinary variables those rules would catch: the shell's folders, git's author, X's cookie-file path.
_ENV_NOT_SECRET = frozenset({"PWD", "OLDPWD", "XAUTHORITY"})
_ENV_NOT_SECRET_PARTS = frozenset({"AUTHOR", "AUTHORS", "COMPASS", "ASKPASS"})


def is_secret_env_name(name: str) -> bool:
    """The rule for variables kept from model-run commands: ``is_secret_name``, plus any name with a part
    (between underscores) containing PASS, AUTH, WEBHOOK, COOKIE, CREDS or PRIVATE, or ending in PWD or DSN
    (``MYSQL_PWD``, ``SENTRY_DSN``, ``NPM_CONFIG__AUTH``, ``SLACK_WEBHOOK_URL``). ``PWD``, ``OLDPWD`` and
    ``GIT_AUTHOR_*`` stay."""
    upper = name.upper()
    if is_secret_name(upper):
        return True
    if upper in _ENV_NOT_SECRET:
        return False
    for part in upper.split("_"):
        if not part or part in _ENV_NOT_SECRET_PARTS:
            continue
        if any(word in part for word in _ENV_PART_CONTAINS) or part.endswith(_ENV_PART_ENDS):
            return True
    return False


def _name_parts(name: str) -> list[str]:
    return [part.lower() for part in _NAME_PARTS.findall(name)]


def is_secret_field(name: str) -> bool:
    """The stricter rule for names found in text (code, JSON, YAML, headers): the name must end in the secret
    noun (``api_key``, ``DB_PASSWORD``, ``accessToken``), so ``sort_key``, ``KEYWORD``, ``max_tokens``,
    ``eos_token``, ``token_url`` and ``password_hint`` stay readable."""
    parts = _name_parts(name)
    if not parts or parts[-1] in _META_WORDS:
        return False
    last, prev = parts[-1], (parts[-2] if len(parts) > 1 else "")
    if last == "token":
        return prev not in _NON_SECRET_TOKENS
    if last.endswith("key"):
        return (prev if last == "key" else last[:-3]) in _KEY_QUALIFIERS
    return last.endswith(_SECRET_SUFFIXES)


def _is_env_line_name(name: str) -> bool:
    """`NAME=value` with a CONSTANT_CASE name is a .env or shell line: the broad environment rule applies
    there (``SECRET_KEY_BASE``, ``DB_PASS``), short of names about a secret (``TOKEN_FILE``)."""
    return is_secret_name(name) and _name_parts(name)[-1] not in _META_WORDS


def _quoted_is_secret(value: str) -> bool:
    if value != value.strip() or value.lower() in _NOT_SECRET_WORDS or _PLACEHOLDER_WORD.fullmatch(value):
        return False
    # Templates ("{token}", "${TOKEN}", "%s"), vocabulary tokens ("<|im_end|>") and names (forward
    # references in annotations, "OPENAI_API_KEY", "X-Api-Token") are not secrets.
    if "{" in value or "%s" in value or "%(" in value or ("<" in value and ">" in value):
        return False
    if value.count(" ") > 4 or "`" in value:
        return False  # a sentence: help text, a docstring
    if _CODE_NAME.fullmatch(value):
        return False
    return not (_VARIABLE_OR_HEADER.fullmatch(value) and is_secret_name(value))


def _unquoted_is_secret(value: str, *, env_style: bool) -> bool:
    if value.lower() in _NOT_SECRET_WORDS or _NUMBER.fullmatch(value) or "(" in value or "[" in value:
        return False
    if env_style:
        return not _PLACEHOLDER_WORD.fullmatch(value)  # KEY=VALUE, TOKEN=YOUR_TOKEN
    # In YAML an unquoted word is a literal; in code (`token = self.token`, `key: Kind`) it is a name.
    if value.startswith("-") or any(c in value for c in "<>*") or _DOTTED_NAME.fullmatch(value):
        return False
    if _IDENTIFIER.fullmatch(value) and is_secret_name(value):
        return False  # `entity_mask2_token=entity_mask2_token`
    return not _PLAIN_IDENTIFIER.fullmatch(value)


_LINE_NUMBER = re.compile(r"^(?:[ \t]*\d+(?:\t|[ \t]{2})|(?:[^\s:]{0,200}:)?\d+[:-])")
"""A line-number prefix: read_file's (right-aligned number, two spaces), ``cat -n``'s (a tab), and grep's
(``path:12:``)."""


def _starts_a_field(text: str, start: int) -> bool:
    """Whether a name begins a YAML/config field, not a word in prose (``the token: re-exchanging ...``)."""
    window = max(0, start - 200)  # bounded, so that a long minified line stays linear
    line = text[max(window, text.rfind("\n", window, start) + 1) : start]
    # Numbered lines ("   12  password: x", "cfg.yaml:12:password: x"): the number is not prose before the name.
    line = _LINE_NUMBER.sub("", line, count=1)
    return not line.strip(" \t-#/*>") or line[-1] in "'\"{(,;&?"


def _is_secret_literal(value: str, *, quoted: bool, env_style: bool) -> bool:
    """Whether a field's value is a literal secret rather than code, a reference or a placeholder."""
    if len(value) < _MIN_FIELD_VALUE or value.startswith(_REFERENCE_STARTS):
        return False
    if "..." in value or "\u2026" in value:
        return False  # an elided example: `sk-...`
    return _quoted_is_secret(value) if quoted else _unquoted_is_secret(value, env_style=env_style)


def _known_kind(value: str) -> str | None:
    """The kind of a known token inside ``value``, so that ``API_KEY=sk-...`` says openai_key."""
    match = _token_pattern().search(value)
    return match.lastgroup if match else None


def _classify(value: str, default: str) -> str:
    return _known_kind(value) or default


def _field_kind(name: str) -> str:
    lowered = name.lower()
    if "secret_access_key" in lowered or "secretaccesskey" in lowered:
        return "aws_secret_key"
    return "password" if "pass" in lowered else "secret"


def _replace_field(m: re.Match[str]) -> str | None:
    name, value, sep = m["field_name"], m["field_val"], m["field_sep"]
    env_line = sep == "=" and not m["field_dash"] and not any(c.islower() or c == "-" for c in name)
    if not (_is_env_line_name(name) if env_line else is_secret_field(name)):
        return None
    quote = ""
    body = value.lstrip("rbuRBU")
    if body[:1] in "\"'" and len(body) >= 2:
        quote, value = value[: len(value) - len(body) + 1], body[1:-1]
    env_style = env_line or (sep == "=" and bool(m["field_dash"]))
    kind = _known_kind(value)
    if kind is None:
        if not _is_secret_literal(value, quoted=bool(quote), env_style=env_style):
            return None
        if not (quote or env_style or _starts_a_field(m.string, m.start())):
            return None
        kind = _field_kind(name)
    redacted = _placeholder(kind)
    return m["field_keep"] + (f"{quote}{redacted}{quote[-1]}" if quote else redacted)


def _keep_and_redact(rule: str, default_kind: str) -> Callable[[re.Match[str]], str]:
    def replace(m: re.Match[str]) -> str:
        return m[f"{rule}_keep"] + _placeholder(_classify(m[f"{rule}_val"], default_kind))

    return replace


def _replace_auth(m: re.Match[str]) -> str:
    scheme = m["auth_scheme"].lower()
    default = {"bearer": "bearer_token", "basic": "basic_auth"}.get(scheme, "auth_token")
    return m["auth_keep"] + _placeholder(_classify(m["auth_val"], default))


_HANDLERS: dict[str, Callable[[re.Match[str]], str | None]] = {
    "url": _keep_and_redact("url", "password"),
    "auth": _replace_auth,
    "bearer": _keep_and_redact("bearer", "bearer_token"),
    "netrc": _keep_and_redact("netrc", "password"),
    "curl_user": _keep_and_redact("curl_user", "password"),
    "field": _replace_field,
}


def _redact_patterns(text: str) -> str:
    pattern = _text_pattern()
    out: list[str] = []
    pos = 0
    while (m := pattern.search(text, pos)) is not None:
        rule = m.lastgroup or ""
        handler = _HANDLERS.get(rule)
        replacement = handler(m) if handler else _placeholder(rule)
        if replacement is None:
            # Declined (e.g. `password = input()`): look again one character on, so that a secret inside
            # the declined value (a URL with a password) is still found.
            out.append(text[pos : m.start() + 1])
            pos = m.start() + 1
            continue
        out.append(text[pos : m.start()])
        out.append(replacement)
        pos = m.end()
    out.append(text[pos:])
    return "".join(out)


def _redact_text(text: str, literals: re.Pattern[str] | None) -> str:
    # Literal values first: a pattern could otherwise redact part of one and leave the rest readable.
    if literals is not None:
        text = literals.sub(_placeholder("env_value"), text)
    return _redact_patterns(text)


def redact(text: str, extra_values: Iterable[str] = ()) -> str:
    """``text`` with each secret replaced by ``[REDACTED:<kind>]``: known token formats, private key blocks,
    Authorization headers, URL passwords, literal values of secret-named fields, and every value in
    ``extra_values`` longer than five characters (the values of secret environment variables), wherever
    it appears. Names, users and hosts are kept so the text still reads. Idempotent."""
    return _redact_text(text, _literal_pattern(tuple(extra_values)))


def redact_obj(value: Any, extra_values: Iterable[str] = ()) -> Any:
    """A copy of ``value`` (an audit record) with every string redacted, recursively through dicts, lists
    and tuples. A string under a secret-named key (``{"api_key": "..."}``) is redacted whole, since it has
    no name beside it in the text. Keys and non-string leaves are kept as they are."""
    return _redact_any(value, _literal_pattern(tuple(extra_values)), None)


def _redact_leaf(value: str, literals: re.Pattern[str] | None, key: str | None) -> str:
    if key is not None and is_secret_field(key) and _is_secret_literal(value, quoted=True, env_style=False):
        return _placeholder(_classify(value, _field_kind(key)))
    return _redact_text(value, literals)


def _redact_any(value: Any, literals: re.Pattern[str] | None, key: str | None) -> Any:
    if isinstance(value, str):
        return _redact_leaf(value, literals, key)
    if isinstance(value, dict):
        return {k: _redact_any(v, literals, k if isinstance(k, str) else None) for k, v in value.items()}
    if isinstance(value, list):
        return [_redact_any(v, literals, None) for v in value]
    if isinstance(value, tuple):
        return tuple(_redact_any(v, literals, None) for v in value)
    return value


_URL_PASSWORD = re.compile(r"(?<![A-Za-z0-9+.-])[A-Za-z][A-Za-z0-9+.-]{0,30}://[^\s:/@\[]*:([^\s@/]+)@")


def _url_passwords(value: str) -> list[str]:
    found = []
    for password in _URL_PASSWORD.findall(value):
        found.append(password)
        if unquote(password) != password:
            found.append(unquote(password))  # a program may print the decoded form
    return found


def _is_secret_variable(name: str, value: str) -> bool:
    return is_secret_env_name(name) or bool(_URL_PASSWORD.search(value) or _token_pattern().search(value))


def secret_env_values(env: Mapping[str, str], allow: Iterable[str] = ()) -> list[str]:
    """The values to pass to ``redact(extra_values=...)``: those of secret-named variables
    (``is_secret_name``) and the passwords in URLs (``DATABASE_URL=postgres://user:<password>@db/app``),
    except for variables named in ``allow``. Values shorter than six characters are left out: they would
    match ordinary words. (A token of a known format under another name needs no entry: ``redact`` finds
    it anyway.)"""
    allowed = set(allow)
    values: list[str] = []
    for name, value in env.items():
        if name in allowed:
            continue
        candidates = [value] if is_secret_env_name(name) else _url_passwords(value)
        values.extend(v for v in candidates if len(v) >= _MIN_ENV_VALUE and v not in values)
    return values


def filter_env(env: Mapping[str, str], allow: Iterable[str] = ()) -> dict[str, str]:
    """The environment that model-run commands get: a copy of ``env`` without secret-named variables, without
    variables whose value holds a URL password or a known token, unless named exactly in ``allow``. PATH,
    HOME, LANG, TERM and other ordinary variables are kept."""
    allowed = set(allow)
    return {name: value for name, value in env.items()
            if name in allowed or not _is_secret_variable(name, value)}
