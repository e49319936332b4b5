"""Parameter types the commands share: a challenge in hex, a maximum attestation age, a choice
whose list loads on first use (:class:`LazyChoice`).

Both refuse bad values as usage errors (exit 2, one line naming the option) before any work.

Imports click only. Used by the command modules.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Iterable, Sequence
from typing import Any

import click

CHALLENGE_MIN_BYTES = 16
CHALLENGE_MAX_BYTES = 64
_HEX = re.compile(r"[0-9a-fA-F]*")


class HexChallenge(click.ParamType):
    """A challenge on the command line: hex digits only (no prefix, no spaces), an even number of
    them, 16 to 64 bytes."""

    name = "HEX"

    def convert(self, value, param, ctx):
        if isinstance(value, (bytes, bytearray)):
            return bytes(value)
        if not isinstance(value, str) or not value or not _HEX.fullmatch(value):
            self.fail("must be hexadecimal digits only (0-9, a-f; no '0x', no spaces), e.g. the "
                      "output of 'zkmargin challenge'", param, ctx)
        if len(value) % 2:
            self.fail(f"has an odd number of hex digits ({len(value)})", param, ctx)
        raw = bytes.fromhex(value)
        if not CHALLENGE_MIN_BYTES <= len(raw) <= CHALLENGE_MAX_BYTES:
            self.fail(f"must be {CHALLENGE_MIN_BYTES} to {CHALLENGE_MAX_BYTES} bytes "
                      f"({2 * CHALLENGE_MIN_BYTES} to {2 * CHALLENGE_MAX_BYTES} hex digits), got "
                      f"{len(raw)} bytes", param, ctx)
        return raw


class MaxAge(click.ParamType):
    """A maximum attestation age in seconds: a positive, finite number. ``nan``, ``inf``, zero and
    negatives are refused (none of them may switch the age check off); whether it is within the
    policy's limit is checked by the library (a flag may only tighten the policy)."""

    name = "SECONDS"

    def convert(self, value, param, ctx):
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            number = float(value)
        else:
            try:
                number = float(str(value).strip())
            except ValueError:
                self.fail(f"{value!r} is not a number of seconds", param, ctx)
        if math.isnan(number) or math.isinf(number) or number <= 0:
            self.fail(f"must be a positive, finite number of seconds, not {value!r}", param, ctx)
        return number


HEX_CHALLENGE = HexChallenge()
MAX_AGE = MaxAge()


class LazyChoice(click.Choice):
    """``click.Choice`` over names that ``load()`` returns, called only when the option is parsed
    or its help shown: registering the command (``zkmargin --help``) imports nothing for it."""

    def __init__(self, load: Callable[[], Iterable[str]], case_sensitive: bool = True) -> None:
        self._load = load
        self._choices: tuple[str, ...] | None = None
        self.case_sensitive = case_sensitive

    @property
    def choices(self) -> Sequence[Any]:
        if self._choices is None:
            self._choices = tuple(sorted(self._load()))
        return self._choices

    @choices.setter
    def choices(self, value: Sequence[Any]) -> None:
        self._choices = tuple(value)
