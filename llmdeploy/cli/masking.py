"""The one secret masker: every byte llmdeploy writes goes through it.

`llmdeploy.cli.main` wraps stdout and stderr in `MaskingStream`, so plan, check,
diff, capacity, verify, rollout, preflight and the program's own log lines are
masked on the way out, whichever code path printed them, echoes from a server
included. Files a command writes go through `MASKER.text` too.

What is masked, everywhere with the same mark (`[secret]`):

- every value this process knows to be secret: a run's secret values (config
  `secure:` entries, `Output.secret`s a program registered), and the values of
  `LLMDEPLOY_API_KEY` and `HF_TOKEN` in the environment;
- token shapes wherever they appear: Hugging Face (`hf_` + 30 or more letters and
  digits, the shape the `hf-token-secret` policy looks for), AWS access key ids,
  PEM private keys;
- secret-like assignments (`HF_TOKEN=...`, `API_KEY: ...`) and flags
  (`--api-key ...`), unless the value is a reference (`$...`).
"""

from __future__ import annotations

import io
import json
import os
import re
import threading
from collections.abc import Iterable
from typing import IO, Any

SECRET_MARK = "[secret]"
# Environment variables whose values are secrets wherever they show up.
# Environment variables whose values are credentials: masked in everything a command prints.
SECRET_ENVIRONMENT = (
    "LLMDEPLOY_API_KEY",
    "HF_TOKEN",
    "HUGGING_FACE_HUB_TOKEN",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
)
# Shorter values are not masked by value: "[secret]" in place of every "ab" would mangle output.
MIN_SECRET_LENGTH = 4

# No word boundary: `xhf_...` still holds a token, and the pack looks for it the same way.
HF_TOKEN_SHAPE = re.compile(r"hf_[A-Za-z0-9]{30,}")
_TOKEN_SHAPES = (
    HF_TOKEN_SHAPE,
    re.compile(r"\b(?:AKIA|ASIA)[0-9A-Z]{16}\b"),
    re.compile(r"-----BEGIN [A-Z ]*PRIVATE KEY-----.*?-----END [A-Z ]*PRIVATE KEY-----", re.S),
)
# `HF_TOKEN=hf_...`, `API_KEY: "..."` in env lists, env files and scripts. A value
# that starts with `$` is a reference (`HF_TOKEN="$(aws secretsmanager ...)"`), kept.
# The name must end in the secret word: `SECRET_NAME: x` names a secret, it holds none.
_ASSIGNMENT = re.compile(
    r"\b([A-Z0-9_]*(?:TOKEN|PASSWORD|PASSWD|PASSPHRASE|SECRET|API_KEY|APIKEY|SECRET_KEY|SECRET_ACCESS_KEY))"
    r"(\s*[=:]\s*)(?!\s|[\"']?\$|\[secret\])(\"[^\"\n]*\"|'[^'\n]*'|[^\s\"',;]+)"
)
# `--api-key sk-...` or `--hf-token=...` on command lines (vLLM and TGI take `--api-key`).
_FLAG = re.compile(r"(--(?:api-key|hf-token|token|password)(?:=|\s+))(?![\"']?\$|-|\[secret\])(\S+)")
# Keys whose values are secret whatever they hold, compared without case, `_` or `-`.
# They end in the word: `secretName`, `secretArn` or `tokenUrl` are not masked.
_SECRET_KEY_ENDINGS = (
    "token",
    "password",
    "passwd",
    "passphrase",
    "secret",
    "secretstring",
    "secretbinary",
    "apikey",
    "privatekey",
    "accesskey",
    "secretkey",
    "credentials",
)


def is_secret_key(key: str) -> bool:
    normalised = re.sub(r"[^a-z0-9]", "", key.lower())
    return normalised.endswith(_SECRET_KEY_ENDINGS)


def mask_shapes(text: str) -> str:
    """`text` with every token shape and secret-like assignment or flag masked."""
    for pattern in _TOKEN_SHAPES:
        text = pattern.sub(SECRET_MARK, text)
    text = _ASSIGNMENT.sub(lambda m: f"{m.group(1)}{m.group(2)}{SECRET_MARK}", text)
    return _FLAG.sub(lambda m: f"{m.group(1)}{SECRET_MARK}", text)


class Masker:
    """Known secret values plus the token shapes; thread-safe, values only ever added."""

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        self._lock = threading.Lock()
        self._secrets: list[str] = []
        self.add(secrets)

    def add(self, secrets: Iterable[str]) -> None:
        with self._lock:
            known = set(self._secrets)
            for secret in secrets:
                if not isinstance(secret, str) or len(secret) < MIN_SECRET_LENGTH or secret == SECRET_MARK:
                    continue
                # A secret also shows up JSON-escaped (in `--format json` output and in files).
                escaped = json.dumps(secret)[1:-1]
                known.update({secret, escaped})
            # Longest first, so a secret containing another is masked whole.
            self._secrets = sorted(known, key=len, reverse=True)

    def add_environment(self, environ: dict[str, str] | os._Environ[str] = os.environ) -> None:
        self.add(environ[name] for name in SECRET_ENVIRONMENT if environ.get(name))

    def text(self, text: str) -> str:
        for secret in self._secrets:
            if secret in text:
                text = text.replace(secret, SECRET_MARK)
        return mask_shapes(text)

    __call__ = text

    def value(self, value: Any, key: str = "") -> Any:
        """Plain data as it may be shown: masked under secret-like keys, in strings, in containers."""
        if value is None or isinstance(value, bool):
            return value
        if key and is_secret_key(key):
            return SECRET_MARK
        if isinstance(value, str):
            return self.text(value)
        if isinstance(value, dict):
            return {k: self.value(v, k) for k, v in value.items()}
        if isinstance(value, list):
            return [self.value(item) for item in value]
        return value


# The process's masker: the output streams use it; commands add the secrets they learn.
MASKER = Masker()


class MaskingStream(io.TextIOBase):
    """A text stream that masks complete lines before they reach `target`.

    Text is held until a newline so a secret split over two `write` calls is
    still seen whole; whatever is left is masked and written on flush/close.
    """

    def __init__(self, target: IO[str], masker: Masker = MASKER) -> None:
        super().__init__()
        self._target = target
        self._masker = masker
        self._pending = ""
        self._lock = threading.Lock()

    def writable(self) -> bool:
        return True

    def write(self, text: str) -> int:
        with self._lock:
            self._pending += text
            cut = self._pending.rfind("\n")
            if cut >= 0:
                ready, self._pending = self._pending[: cut + 1], self._pending[cut + 1 :]
                self._target.write(self._masker.text(ready))
        return len(text)

    def flush(self) -> None:
        with self._lock:
            if self._pending:
                self._target.write(self._masker.text(self._pending))
                self._pending = ""
        self._target.flush()

    def isatty(self) -> bool:
        return self._target.isatty()

    @property
    def encoding(self) -> str:  # type: ignore[override]
        return getattr(self._target, "encoding", "utf-8")
