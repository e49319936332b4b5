"""The checks every command makes before any work (issue 11): its inputs (at most one ``-``) and
its outputs (writable, not one of its inputs, not both on standard output), by
:mod:`zkmargin.files.outputs`. A refusal is an input error: exit 2, one line, nothing written.

May import the library's files layer. Used by the command modules.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from zkmargin.files.outputs import Output, check_inputs, check_outputs

__all__ = ["Output", "guard", "each"]


def each(paths: Iterable[object] | None, what: str) -> list[tuple[object, str]]:
    """``(path, what)`` for every path of a repeatable option."""
    return [(p, what) for p in (paths or ())]


def guard(outputs: Sequence[Output] = (), inputs: Iterable[tuple[object, str]] = (), *,
          as_json: bool = False, replace_input: str | None = None, force: bool = False) -> None:
    """Refuse, before any work, what :func:`check_inputs` and :func:`check_outputs` refuse;
    ``as_json``: standard output holds the JSON document, so no output may be ``-``;
    ``replace_input``: the input an output may replace with ``force`` (``--force``)."""
    ins = list(inputs)
    check_inputs(ins)
    check_outputs(outputs, inputs=ins, stdout_taken="--json" if as_json else None,
                  replace_input=replace_input, force=force)
