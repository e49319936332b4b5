"""Output paths, checked before any slow work (issue 11): a command refuses, in one line and
before it reads or proves anything, an output it could not write (a folder, a missing folder, a
folder it may not write in), an output that is one of its own inputs (``prove ACCOUNT -o
ACCOUNT`` would replace the trader's private account with a proof), two outputs that are the same
file, and ``-`` (standard output) where the output is private or where ``--json`` already owns
standard output.

Imports :mod:`zkmargin.errors` and :mod:`.inputs` only. Used by the CLI's commands.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from ..errors import InputError
from .inputs import is_stdin


@dataclass(frozen=True)
class Output:
    """One file a command writes: its path (``-``: standard output), what it is (``"the proof
    bundle"``), the option that names it, and whether it is private (mode 0600, never stdout)."""

    path: str | os.PathLike[str] | None
    what: str
    option: str = "-o"
    private: bool = False


def _same_file(a: str, b: str) -> bool:
    try:
        if os.path.exists(a) and os.path.exists(b):
            return os.path.samefile(a, b)
    except OSError:
        pass
    return os.path.realpath(a) == os.path.realpath(b)


def check_output(out: Output, *, inputs: Iterable[tuple[object, str]] = (),
                 stdout_taken: str | None = None, replace_input: str | None = None,
                 force: bool = False) -> None:
    """Refuse ``out`` when it cannot be written or is one of ``inputs`` (``(path, what)`` pairs;
    ``None`` paths are skipped). ``stdout_taken`` names what already writes to standard output
    (``"--json"``); ``replace_input`` names the one input ``out`` may replace with ``force``
    (``--force``)."""
    if out.path is None:
        return
    path = os.fspath(out.path)
    where = f"{out.what} ({out.option})"
    if is_stdin(path):
        if out.private:
            raise InputError(f"{where} is private: write it to a file (mode 0600), not to standard "
                             "output", source="-")
        if stdout_taken:
            raise InputError(f"{where} and {stdout_taken} would both write to standard output; "
                             "give a file name", source="-")
        return
    if not path.strip():
        raise InputError(f"{where}: the file name is empty")
    if os.path.isdir(path):
        raise InputError(f"is a folder; name the file to write {out.what} to ({out.option})",
                         source=path)
    parent = os.path.dirname(path) or "."
    if not os.path.isdir(parent):
        raise InputError(f"the folder {parent} does not exist (for {where})", source=path)
    if not os.access(parent, os.W_OK | os.X_OK):
        raise InputError(f"cannot write in the folder {parent} (permission denied; for {where})",
                         source=path)
    if os.path.exists(path) and not os.path.isfile(path):
        raise InputError(f"is not a regular file; refusing to replace it with {out.what}",
                         source=path)
    for src, what in inputs:
        if src is None or is_stdin(src) or not isinstance(src, (str, os.PathLike)):
            continue
        if _same_file(path, os.fspath(src)):
            if what == replace_input:
                if force:
                    continue
                hint = " (or pass --force to replace it)"
            else:
                hint = ""
            raise InputError(f"is {what} this command reads; refusing to overwrite it with "
                             f"{out.what} ({out.option}): write to another file{hint}", source=path)


def check_outputs(outputs: Sequence[Output], *, inputs: Iterable[tuple[object, str]] = (),
                  stdout_taken: str | None = None, replace_input: str | None = None,
                  force: bool = False) -> None:
    """:func:`check_output` for each of ``outputs``, and no two of them the same file (or both
    standard output)."""
    inputs = list(inputs)
    for out in outputs:
        check_output(out, inputs=inputs, stdout_taken=stdout_taken, replace_input=replace_input,
                     force=force)
    named = [o for o in outputs if o.path is not None]
    for i, a in enumerate(named):
        for b in named[i + 1:]:
            pa, pb = os.fspath(a.path), os.fspath(b.path)  # type: ignore[arg-type]
            if (is_stdin(pa) and is_stdin(pb)) or (not is_stdin(pa) and not is_stdin(pb)
                                                    and _same_file(pa, pb)):
                raise InputError(f"{a.what} ({a.option}) and {b.what} ({b.option}) are the same "
                                 "file; give two different names", source=pa)


def check_inputs(inputs: Iterable[tuple[object, str]]) -> None:
    """At most one input may be ``-`` (standard input can be read once)."""
    from_stdin = [what for src, what in inputs if src is not None and is_stdin(src)]
    if len(from_stdin) > 1:
        raise InputError(f"{from_stdin[0]} and {from_stdin[1]} are both '-'; standard input holds "
                         "one document", source="-")
