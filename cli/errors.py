"""Exceptions → one line on stderr and an exit code. The only place the CLI decides exit codes.

    0    success: the proof is valid, the account meets the requirement
    1    an answer, not a fault: a proof rejected, an account below the requirement
         (zkmargin.errors.Rejected and its subclasses)
    2    usage or input error: bad arguments, unreadable or malformed files, wrong formats,
         an unexpected internal error
    130  interrupted (Ctrl-C); nothing is left half-written

Set ``ZKMARGIN_DEBUG=1`` to let exceptions through with their traceback.

May import :mod:`zkmargin.errors`. Used by :mod:`.app` and the command modules.
"""

from __future__ import annotations

import os
import sys
from decimal import DecimalException

import click

from zkmargin.errors import Rejected, ZkMarginError
from zkmargin.files.inputs import MAX_DIGITS

EXIT_OK = 0
EXIT_REJECTED = 1
EXIT_USAGE = 2
EXIT_INTERRUPTED = 130
DEBUG_ENV = "ZKMARGIN_DEBUG"
#: The longest line written on stderr.
MAX_LINE = 2000


def debug_enabled() -> bool:
    return os.environ.get(DEBUG_ENV, "").strip().lower() not in ("", "0", "false", "no")


def one_line(text: str) -> str:
    """Collapse whitespace (newlines included) so a message is exactly one line."""
    return " ".join(str(text).split())


def say(text: str) -> None:
    """One line on stderr (nothing with the group's ``--quiet``)."""
    ctx = click.get_current_context(silent=True)
    if ctx is not None and (ctx.find_root().obj or {}).get("quiet"):
        return
    say_error(text)


def say_error(text: str) -> None:
    """One line on stderr, bounded; a closed or broken stderr loses the line, never the exit
    code."""
    try:
        click.echo(one_line(text)[:MAX_LINE], err=True)
    except (OSError, ValueError):
        pass


def message_for(exc: BaseException) -> tuple[str, int]:
    """The one-line message and the exit code for an exception raised by a command."""
    if isinstance(exc, Rejected):
        return "rejected: " + exc.one_line(), exc.exit_code
    if isinstance(exc, ZkMarginError):
        return "error: " + exc.one_line(), exc.exit_code
    if isinstance(exc, KeyboardInterrupt):
        return "interrupted", EXIT_INTERRUPTED
    if isinstance(exc, BrokenPipeError):
        return "error: the output was closed before everything was written", EXIT_USAGE
    if isinstance(exc, OSError):
        where = exc.filename if exc.filename is not None else None
        what = exc.strerror or exc.__class__.__name__
        return (f"error: {where}: {what}" if where else f"error: {what}"), EXIT_USAGE
    if isinstance(exc, DecimalException):
        return ("error: a number is too large or too precise to compute with exactly (at most "
                f"{MAX_DIGITS} digits per number)"), EXIT_USAGE
    if isinstance(exc, MemoryError):
        return "error: out of memory (is an input far larger than it should be?)", EXIT_USAGE
    if isinstance(exc, RecursionError):
        return "error: an input is nested too deeply", EXIT_USAGE
    detail = str(exc)
    text = f"{exc.__class__.__name__}: {detail}" if detail else exc.__class__.__name__
    return (f"internal error: {text} (set {DEBUG_ENV}=1 to see the traceback)"), EXIT_USAGE


def report(exc: BaseException) -> int:
    """Print the one line for ``exc`` on stderr (even with ``--quiet``) and return its exit
    code."""
    text, code = message_for(exc)
    say_error(text)
    if isinstance(exc, BrokenPipeError):
        # stdout is gone: point it at devnull so the interpreter's final flush stays quiet
        try:
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, sys.stdout.fileno())
        except (OSError, ValueError):
            pass
    return code


def usage_line(exc: click.ClickException) -> str:
    """A click usage error as one line, with the command it is about and where to get help."""
    ctx = getattr(exc, "ctx", None)
    msg = exc.format_message()
    if ctx is not None and isinstance(exc, click.UsageError):
        path = ctx.command_path
        return one_line(f"usage error: {msg} (see '{path} --help')")
    return one_line(f"error: {msg}")
