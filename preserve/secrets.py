"""One redaction policy: credentials never enter a crate, a blob, a DOI record or a log.

What counts as a credential:

- a *name* (environment variable, config key, query parameter, command-line
  option) made of words such as TOKEN, SECRET, PASSWORD, KEY, CREDENTIAL,
  SIGNATURE, AUTH, or any ``X-Amz-*`` / ``X-Goog-*`` query parameter;
- a *value* of a known token shape (GitHub, GitLab, AWS access key IDs, Slack,
  Google API keys, JWTs, PEM private keys, dCache macaroons, ...);
- the user info of a URI (``https://user:password@host``).

The same policy redacts URIs (:func:`redact_uri`), command lines
(:func:`command_secrets`), free text such as progress lines, error messages
(:func:`redact_text`). Known values (withheld environment values, values
taken from URIs and configs) are replaced wherever they occur; token shapes are
replaced even when nobody declared them. Files (logs, crate files) are scrubbed
the same way, streaming: :mod:`preserve.scrub`.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote_plus, urlsplit, urlunsplit

WITHHELD = "<withheld by preserve>"
MASK = "***"

# Words of a name that make it a credential's name (after splitting on _, -, ., camelCase).
_SECRET_WORDS = frozenset(
    [
        "TOKEN",
        "TOKENS",
        "SECRET",
        "SECRETS",
        "PASSWORD",
        "PASSWD",
        "PASSPHRASE",
        "KEY",
        "APIKEY",
        "PRIVATE",
        "CREDENTIAL",
        "CREDENTIALS",
        "CREDS",
        "AUTH",
        "AUTHZ",
        "AUTHORIZATION",
        "COOKIE",
        "MACAROON",
        "BEARER",
        "SIGNATURE",
        "JWT",
        "OTP",
    ]
)
# In a URI query only: short names services use for credentials ("SIG_LEVEL" or
# "SESSION" in an environment is physics more often than a secret).
_PARAM_WORDS = frozenset(["SIG", "SID", "SESSION", "SESSIONID", "PWD", "PASS"])
# Substrings that make a name secret even when glued to other words (GITHUBTOKEN).
_SECRET_PARTS = re.compile(r"TOKEN|SECRET|PASSW|APIKEY|ACCESSKEY|PRIVATEKEY|CREDENTIAL", re.I)
# A word that turns a secret-looking option into one that names where a secret is.
_REFERENCE_WORDS = frozenset(
    ["FILE", "PATH", "DIR", "NAME", "ENV", "URL", "URI", "TYPE", "LENGTH", "SIZE"]
)
_WORD = re.compile(r"[A-Z]+(?=[A-Z][a-z])|[A-Z]?[a-z]+|[A-Z]+|\d+")
# Query parameters that are credentials whatever their words (pre-signed cloud URLs).
_SECRET_PARAM_PREFIX = re.compile(r"^x-(amz|goog|ms)-", re.I)

# Known token shapes, each bounded so that a scan never holds more than a few KiB.
TOKEN_SHAPES = re.compile(
    r"(?:gh[pousr]_[A-Za-z0-9]{30,255}"
    r"|github_pat_[A-Za-z0-9_]{40,255}"
    r"|gl(?:pat|dt|rt|ptt|cbt|oas|soat|ft|imt|agent)-[A-Za-z0-9_-]{20,255}"
    r"|(?:AKIA|ASIA|ABIA|ACCA)[0-9A-Z]{16}"
    r"|xox[abposr]-[A-Za-z0-9-]{10,255}"
    r"|AIza[0-9A-Za-z_-]{35}"
    r"|hf_[A-Za-z0-9]{30,255}"
    r"|pypi-[A-Za-z0-9_-]{50,4096}"
    r"|npm_[A-Za-z0-9]{36}"
    r"|sk_live_[A-Za-z0-9]{20,255}"
    r"|eyJ[A-Za-z0-9_-]{10,4096}\.eyJ[A-Za-z0-9_-]{10,8192}\.[A-Za-z0-9_-]{0,4096}"
    r"|-----BEGIN [A-Z ]{0,40}PRIVATE KEY-----"
    r"(?:[^-]{0,16384}-----END [A-Z ]{0,40}PRIVATE KEY-----)?"
    r"|MDAx[A-Za-z0-9+/=_-]{40,8192})"
)
# A URI in free text: scheme://... up to white space or a quote.
_URI_IN_TEXT = re.compile(r"\b[A-Za-z][A-Za-z0-9+.-]{1,20}://[^\s\"'<>`]+")
# `--password=VALUE`, `--token VALUE`, `-p VALUE` in free text (a log, a shell string).
_OPTION_IN_TEXT = re.compile(
    r"(?P<opt>(?<![\w-])--?[A-Za-z][A-Za-z0-9_.-]{0,60})(?P<sep>=|[ \t]+)"
    r"(?P<value>[^\s\"'=]{1,4096})"
)
# An HTTP credential written out: "Authorization: Bearer X", "Basic X", "token X".
_AUTH_IN_TEXT = re.compile(
    r"(?P<opt>(?i:\b(?:bearer|basic|token|digest|negotiate)))(?P<sep>[ \t]+)"
    r"(?P<value>[A-Za-z0-9._~+/=-]{8,4096})"
)
# `NAME=VALUE` / `NAME: VALUE` in free text.
_PAIR_IN_TEXT = re.compile(
    r"(?P<opt>(?<![\w-])[A-Za-z_][A-Za-z0-9_]{0,60})(?P<sep>[\"']?[ \t]*[=:][ \t]*[\"']?)"
    r"(?P<value>[^\s\"',;&}]{1,4096})"
)
_ENV_REF = re.compile(r"^(\$[A-Za-z_][A-Za-z0-9_]*|\$\{[A-Za-z_][A-Za-z0-9_]*\}|\{[^{}]*\})$")


def _words(name: str) -> list[str]:
    return [w.upper() for w in _WORD.findall(name)]


def is_secret_name(name: str) -> bool:
    """Whether a variable, key or parameter called ``name`` holds a credential."""
    words = _words(name)
    return bool(_SECRET_WORDS.intersection(words) or _SECRET_PARTS.search(name))


def is_secret_param(name: str) -> bool:
    """Whether a URI query (or fragment) parameter called ``name`` carries a credential."""
    if _SECRET_PARAM_PREFIX.match(name):
        return True
    words = _words(name)
    secret = is_secret_name(name) or bool(_PARAM_WORDS.intersection(words))
    return secret and not _REFERENCE_WORDS.intersection(words[-1:])


def looks_like_token(value: str) -> bool:
    return bool(TOKEN_SHAPES.search(value))


def is_secret(name: str, value: str | None) -> bool:
    """Whether a named value must be withheld: by its name, its shape, or a URI carrying
    a credential (``DATA_URL=https://user:password@host/...``)."""
    if is_secret_name(name):
        return True
    return bool(value) and (looks_like_token(value or "") or bool(uri_secrets(value or "")))


# -- URIs --------------------------------------------------------------------


def _redact_params(text: str, found: list[str]) -> str:
    if not text or "=" not in text:
        return text
    out = []
    for pair in text.split("&"):
        key, sep, value = pair.partition("=")
        name = _unquote(key)
        if sep and value and (is_secret_param(name) or looks_like_token(_unquote(value))):
            if not _SECRET_PARAM_PREFIX.match(name) or is_secret_name(name):
                # X-Amz-Date & co. are masked with the rest of a pre-signed URL, but
                # "20240101" is no secret to hunt for in logs.
                found += [_unquote(value), value]
            out.append(f"{key}={MASK}")
        else:
            out.append(pair)
    return "&".join(out)


def _unquote(text: str) -> str:
    return unquote_plus(text)


def uri_secrets(uri: str) -> list[str]:
    """Credential values a URI carries: user info, and credential query/fragment values."""
    return _redact(uri)[1]


def redact_uri(uri: str) -> str:
    """``uri`` with user info and credential-bearing query values replaced by ``***``.

    Every other byte is kept as written, so a URI without credentials is returned
    unchanged (and still names the same resource).
    """
    return _redact(uri)[0]


def _redact(uri: str) -> tuple[str, list[str]]:
    try:
        parts = urlsplit(uri)
    except ValueError:  # e.g. an invalid IPv6 host: say nothing of it but its scheme
        scheme = uri.split(":", 1)[0] if ":" in uri else ""
        return (f"{scheme}:{MASK}" if scheme else MASK), [uri]
    found: list[str] = []
    netloc = parts.netloc
    if "@" in netloc:
        userinfo, _, host = netloc.rpartition("@")
        user, _, password = userinfo.partition(":")
        found += [v for v in (_unquote(password), password) if v]
        if looks_like_token(_unquote(user)) or (not password and len(user) >= 20):
            # A bare user part is often the token itself (https://TOKEN@host).
            found += [v for v in (_unquote(user), user) if v]
        netloc = f"{MASK}@{host}"
    query = _redact_params(parts.query, found)
    fragment = _redact_params(parts.fragment, found)
    path = parts.path
    if looks_like_token(path):
        found += TOKEN_SHAPES.findall(path)
        path = TOKEN_SHAPES.sub(MASK, path)
    if not found:
        return uri, []
    return urlunsplit((parts.scheme, netloc, path, query, fragment)), _unique(found)


def _unique(values: Iterable[str]) -> list[str]:
    return list(dict.fromkeys(v for v in values if v))


def strip_userinfo(url: str) -> str:
    """``https://user:token@host/x`` -> ``https://host/x``, other credentials masked."""
    redacted = redact_uri(url)
    return redacted.replace(f"://{MASK}@", "://", 1)


# -- command lines -------------------------------------------------------------


@dataclass(frozen=True)
class CommandSecret:
    """A credential found in a command line: where, what it is, and a name to move it to."""

    index: int  # argument index
    what: str  # e.g. "the value of --token", "a GitHub token"
    value: str
    env_name: str  # suggested environment variable


_SHAPE_NAMES = (
    ("gh", "a GitHub token", "GITHUB_TOKEN"),
    ("github_pat_", "a GitHub token", "GITHUB_TOKEN"),
    ("gl", "a GitLab token", "GITLAB_TOKEN"),
    ("AIza", "a Google API key", "GOOGLE_API_KEY"),
    ("A", "an AWS access key ID", "AWS_ACCESS_KEY_ID"),
    ("hf_", "a Hugging Face token", "HF_TOKEN"),
    ("pypi-", "a PyPI token", "PYPI_TOKEN"),
    ("xox", "a Slack token", "SLACK_TOKEN"),
    ("eyJ", "a JSON Web Token", "TOKEN"),
    ("-----BEGIN", "a private key", "PRIVATE_KEY"),
    ("MDAx", "a macaroon", "MACAROON"),
)


def _shape_name(token: str) -> tuple[str, str]:
    for prefix, what, env in _SHAPE_NAMES:
        if token.startswith(prefix):
            return what, env
    return "a token", "TOKEN"


def _option_env_name(option: str) -> str:
    words = _words(option)
    return "_".join(words) or "TOKEN"


def _is_secret_option(option: str) -> bool:
    """``--token``, ``--api-key``, ``--password``; not ``--sort-key`` or ``--token-file``."""
    name = option.lstrip("-")
    words = _words(name)
    if not name or _REFERENCE_WORDS.intersection(words[-1:]):
        return False
    if _SECRET_PARTS.search(name) or (_SECRET_WORDS - {"KEY"}).intersection(words):
        return True
    return any(w == "KEY" and i and words[i - 1] in _KEY_KINDS for i, w in enumerate(words))


# What kind of KEY is a credential on a command line (a "--sort-key" is not).
_KEY_KINDS = frozenset(
    ["API", "ACCESS", "SECRET", "PRIVATE", "AUTH", "MASTER", "SIGNING", "ENCRYPTION", "CLIENT"]
)


def _is_reference(value: str) -> bool:
    """An environment reference, a placeholder or a path: not the credential itself."""
    return bool(_ENV_REF.match(value)) or value.startswith(("/", "./", "../", "~/"))


def command_secrets(args: Iterable[str]) -> list[CommandSecret]:
    """Credentials written into a command line (an exec-form argument list).

    Finds token shapes anywhere, values of password/token-like options
    (``--token=V``, ``--token V``, ``TOKEN=V``) and credentials in URIs. Values
    that reference an environment variable (``$TOKEN``, ``${TOKEN}``) or a
    placeholder (``{config}``) are fine: they are not the credential.
    """
    out: list[CommandSecret] = []
    argv = list(args)
    for index, arg in enumerate(argv):
        out += [
            CommandSecret(index, "an HTTP credential", m.group("value"), "TOKEN")
            for m in _AUTH_IN_TEXT.finditer(arg)
            if not _is_reference(m.group("value"))
        ]
        words = _split(arg)
        for pos, word in enumerate(words):
            out += _word_secrets(index, word)
            nxt, at = (words[pos + 1], index) if pos + 1 < len(words) else (None, index + 1)
            if nxt is None and len(words) == 1 and index + 1 < len(argv):
                nxt = argv[index + 1]
            if (
                word.startswith("-")
                and "=" not in word
                and _is_secret_option(word)
                and nxt is not None
                and not nxt.startswith("-")
                and not _is_reference(nxt)
            ):
                out.append(CommandSecret(at, f"the value of {word}", nxt, _option_env_name(word)))
    return _dedupe(out)


def _split(arg: str) -> list[str]:
    """An argument's words: a shell string (``sh -c '...'``) is split like the shell would."""
    if not any(c.isspace() for c in arg):
        return [arg]
    import shlex

    try:
        return shlex.split(arg)
    except ValueError:
        return arg.split()


def _word_secrets(index: int, word: str) -> list[CommandSecret]:
    out: list[CommandSecret] = []
    for token in TOKEN_SHAPES.findall(word):
        what, env = _shape_name(token)
        out.append(CommandSecret(index, what, token, env))
    for uri in _URI_IN_TEXT.findall(word):
        for value in uri_secrets(uri):
            out.append(
                CommandSecret(index, f"a credential in the URI {redact_uri(uri)}", value, "TOKEN")
            )
    name, sep, value = word.partition("=")
    if sep and value and not _is_reference(value) and "://" not in name:
        is_option = name.startswith("-") and _is_secret_option(name)
        is_pair = (
            not name.startswith("-")
            and re.fullmatch(r"[A-Za-z_]\w*", name)
            and is_secret_name(name)
        )
        if is_option or is_pair:
            env = _option_env_name(name)
            out.append(CommandSecret(index, f"the value of {name}", value, env))
    return out


def _dedupe(found: list[CommandSecret]) -> list[CommandSecret]:
    """One finding per value, in command order; a known token shape names it best."""
    seen: set[tuple[int, str]] = set()
    out = []
    for f in sorted(found, key=lambda f: (f.index, f.what.startswith("the value of"))):
        if (f.index, f.value) not in seen:
            seen.add((f.index, f.value))
            out.append(f)
    return out


# -- free text: progress lines, messages, logs --------------------------------


# Known values shorter than this are not replaced blindly: "pw" would mangle every
# "pwd" in a log. Their URIs and options are still redacted.
MIN_KNOWN = 4


def known_values(known: Iterable[str]) -> list[str]:
    """The values worth searching for, longest first (a value may contain another)."""
    return sorted({v for v in known if len(v) >= MIN_KNOWN}, key=len, reverse=True)


def redact_text(text: str, known: Iterable[str] = ()) -> str:
    """``text`` with known secret values, token shapes, URI credentials and the values
    of password/token-like options replaced."""
    return _redact_text(text, _known_pattern(tuple(known_values(known))))


@functools.lru_cache(maxsize=32)
def _known_pattern(values: tuple[str, ...]) -> re.Pattern[str] | None:
    return re.compile("|".join(re.escape(v) for v in values)) if values else None


def _redact_text(text: str, known: re.Pattern[str] | None) -> str:
    if known is not None:
        text = known.sub(WITHHELD, text)
    text = TOKEN_SHAPES.sub(MASK, text)
    text = _URI_IN_TEXT.sub(lambda m: redact_uri(m.group(0)), text)
    text = _OPTION_IN_TEXT.sub(_mask_option, text)
    text = _AUTH_IN_TEXT.sub(_mask_auth, text)
    return _PAIR_IN_TEXT.sub(_mask_pair, text)


def redact_data(data: Any, known: Iterable[str] = ()) -> Any:
    """Every string in a JSON-like structure (keys kept) passed through :func:`redact_text`."""
    pattern = _known_pattern(tuple(known_values(known)))

    def walk(node: Any) -> Any:
        if isinstance(node, str):
            return _redact_text(node, pattern)
        if isinstance(node, Mapping):
            return {k: walk(v) for k, v in node.items()}
        if isinstance(node, list | tuple):
            return [walk(v) for v in node]
        return node

    return walk(data)


def secret_env_values(env: Mapping[str, str], withheld_names: Iterable[str] = ()) -> list[str]:
    """The values of ``env`` that must be scrubbed from logs: withheld or credential-like."""
    names = set(withheld_names)
    return [v for k, v in env.items() if v and (k in names or is_secret(k, v))]


def _mask_option(m: re.Match[str]) -> str:
    opt, value = m.group("opt"), m.group("value")
    if not _is_secret_option(opt) or _is_reference(value) or value in (MASK, WITHHELD):
        return m.group(0)
    return f"{opt}{m.group('sep')}{MASK}"


_AUTH_SCHEMES = frozenset({"bearer", "basic", "token", "digest", "negotiate"})


def _mask_auth(m: re.Match[str]) -> str:
    if _is_reference(m.group("value")):
        return m.group(0)
    return f"{m.group('opt')}{m.group('sep')}{MASK}"


def _mask_pair(m: re.Match[str]) -> str:
    name, value = m.group("opt"), m.group("value")
    words = _words(name)
    prose = ":" in m.group("sep") and m.group("sep")[0] not in "\"'" and name.istitle()
    if (
        prose  # "Session: 2024 beamtime" is a heading, not a credential
        or not is_secret_name(name)
        or _REFERENCE_WORDS.intersection(words[-1:])
        or _is_reference(value)
        or value.startswith(("<", MASK))
        or value.lower() in _AUTH_SCHEMES
    ):
        return m.group(0)
    return f"{name}{m.group('sep')}{MASK}"


__all__ = [
    "MASK",
    "WITHHELD",
    "CommandSecret",
    "command_secrets",
    "is_secret",
    "is_secret_name",
    "is_secret_param",
    "known_values",
    "looks_like_token",
    "redact_data",
    "redact_text",
    "redact_uri",
    "secret_env_values",
    "strip_userinfo",
    "uri_secrets",
]
