"""Progress of a proof, for whoever shows it (the command line's progress line; issue 11).

The prover reports phases (building the circuit, committing, computing t(x), each round of the
inner-product argument) with the work done so far and the total, in *points*: the number of
group elements its multi-scalar multiplications take, which is what a proof's time follows. A
listener set with :func:`listening` (a context variable: per thread, nothing global) receives
every report; without one, :func:`report` costs a lookup. Nothing here knows any value of the
witness: the phases and the work depend on the circuit's public shape only.

Imports the standard library only. Used by :mod:`.r1cs`, :mod:`.ipa`, the API (``prove``) and
the CLI.
"""

from __future__ import annotations

import contextlib
import contextvars
from collections.abc import Callable, Iterator

#: ``listener(phase, done, total)``: the phase's name, points of work done and in all (0: unknown).
Listener = Callable[[str, int, int], None]

_listener: contextvars.ContextVar[Listener | None] = contextvars.ContextVar("zkmargin_progress",
                                                                             default=None)


def report(phase: str, done: int = 0, total: int = 0) -> None:
    """Tell the listener (if any) where the proof is."""
    listener = _listener.get()
    if listener is not None:
        listener(phase, done, total)


@contextlib.contextmanager
def listening(listener: Listener) -> Iterator[None]:
    """Send this thread's progress reports to ``listener`` while the block runs."""
    token = _listener.set(listener)
    try:
        yield
    finally:
        _listener.reset(token)


def commitment_work(n1: int, n2: int) -> int:
    """Points in the commitments' MSMs: A_I, A_O, S over phase 1 (and again over phase 2)."""
    return 5 * n1 + 5 * n2 + 6


def ipa_schedule(n: int, fold_span: int) -> list[int]:
    """Points in each inner-product round's two MSMs (``2·M + 2``), following the prover's folding
    (:func:`zkmargin.prover.ipa.prove_inner_product`: the bases are materialised once ``M / nk``
    reaches ``fold_span``)."""
    out = []
    m, nk = n, n
    while nk > 1:
        out.append(2 * m + 2)
        nk //= 2
        if nk > 1 and m // nk >= fold_span:
            m = nk
    return out
