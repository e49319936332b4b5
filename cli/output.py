"""Pure formatting for the command line: reports, verification results, bundle descriptions, JSON,
and a progress line for slow steps on a terminal. No margin or proof logic lives here.

May import the library's types and :mod:`zkmargin.workflows.report_text` (the report as text,
shared with the demo). Used by the command modules.
"""

from __future__ import annotations

import contextlib
import errno
import json
import sys
import threading
import time
from collections.abc import Iterator
from typing import Any, TextIO

import click

from zkmargin.workflows.report_text import format_report, pairs, table  # noqa: F401  (output.table, output.format_report)

# --- JSON ----------------------------------------------------------------------------------------


def dumps(doc: Any) -> str:
    return json.dumps(doc, indent=2, sort_keys=False, ensure_ascii=False)


def require_stdout() -> None:
    """A document is about to go to stdout: refuse (exit 2) when stdout is closed rather than
    lose it silently."""
    if sys.stdout is None:
        raise OSError(errno.EBADF, "standard output is closed; the document was not written")


def emit_json(doc: Any) -> None:
    """Exactly one JSON document on stdout."""
    require_stdout()
    click.echo(dumps(doc))
    _state.emitted = True


class _state:
    """Whether this invocation was asked for ``--json`` and wrote its JSON document (the group
    writes an error document on failure otherwise)."""

    json_requested = False
    emitted = False


def start_invocation(*, json_requested: bool) -> None:
    _state.json_requested, _state.emitted = json_requested, False


def json_pending() -> bool:
    """``--json`` was asked for and no document has been written yet."""
    return _state.json_requested and not _state.emitted


def echo_beside(out: str | None):
    """``click.echo`` for a command's text summary: on stdout, or on stderr when the command's
    output file itself went to stdout (``-o -``)."""
    if out == "-":
        return lambda text: click.echo(text, err=True)
    return click.echo


def statement_summary(st: dict) -> str:
    """One sentence about a public statement."""
    ch = st.get("challenge")
    chal = f"challenge {ch[:16]}..." if ch else "no challenge"
    zone = st.get("zone")
    what = (f"margin-call zone {zone.get('name')!r}{'' if zone.get('exact') else ' or better'}"
            if isinstance(zone, dict) else f"{st.get('requirement')} requirement")
    return (f"{st.get('venue')} {st.get('mode')} margin, {what}, "
            f"threshold {st.get('threshold')}, market as of {st.get('as_of')}, {chal}")


def format_verification(result) -> str:
    """A :class:`zkmargin.VerificationResult` as text."""
    st = result.statement
    what = "" if result.proofs == 1 else f"all {result.proofs} proofs: "
    lines = [f"valid: {what}{statement_summary(st)}"]
    rows = [
        ("policy digest", st.get("policy_digest", "")),
        ("market digest", st.get("market_digest", "")),
        ("circuit digest", st.get("circuit_digest", "")),
        ("gates", str(result.gates)),
        ("proof bytes", str(result.proof_bytes)),
        ("verified in", f"{result.seconds * 1000:.0f} ms ({result.backend})"),
    ]
    extra = dict(getattr(result, "extra", None) or {})
    trust = extra.pop("trust", None)
    if trust is not None:
        from zkmargin.documents.trust import describe

        if isinstance(trust, list):
            rows.extend((f"trust, bundle {i}", describe(r)) for i, r in enumerate(trust))
        else:
            rows.append(("trust", describe(trust)))
    for key, value in extra.items():
        if key == "receipt":  # the whole receipt is for --json and --receipt-out
            recs = value if isinstance(value, list) else [value]
            value = "; ".join(f"entry {r['entry']['seq']} in the signed tree of size {r['sth']['tree_size']}"
                              for r in recs)
        elif isinstance(value, dict):
            value = ", ".join(f"{k} {v}" for k, v in value.items())
        elif isinstance(value, (list, tuple)):
            value = ", ".join(map(str, value))
        rows.append((key.replace("_", " "), str(value)))
    lines.append(pairs(rows))
    return "\n".join(lines)


def verification_json(result) -> dict:
    """``VerificationResult.to_json_dict()`` (it includes what a workflow added)."""
    return result.to_json_dict()


def describe_bundle(bundle, path: str | None, file_bytes: int | None, lg_n: int,
                    version: int) -> dict:
    """The public description ``inspect`` shows: the statement and sizes, nothing else."""
    from zkmargin.documents.bundle import BUNDLE_FORMAT

    return {
        "file": path,
        "format": BUNDLE_FORMAT,
        "statement": dict(bundle.statement),
        "attestations": [{"custodian": a.custodian, "audience": a.audience, "subject": a.subject,
                          "as_of": a.as_of, "challenge": a.challenge, "slots": len(a.slots)}
                         for a in bundle.attestations],
        "commitments": len(bundle.commitments),
        "commitment_bytes": sum(len(c) for c in bundle.commitments),
        "proof_bytes": len(bundle.proof),
        "proof_version": version,
        "inner_product_rounds": lg_n,
        "padded_gates": 1 << lg_n,
        "bundle_bytes": file_bytes,
    }


def format_inspect(desc: dict) -> str:
    st = desc["statement"]
    lines = [f"proof bundle {desc['file']} ({desc['format']})", "statement (public):"]
    rows = []
    for key in ("protocol", "venue", "mode", "requirement", "threshold", "as_of", "challenge",
                "policy_digest", "market_digest", "circuit_digest", "gates"):
        value = st.get(key)
        rows.append((key, "-" if value is None else str(value)))
    slots = st.get("slots") or []
    rows.append(("slots", f"{len(slots)}: " + ", ".join(map(str, slots))))
    lines.append(pairs(rows))
    atts = desc.get("attestations") or []
    if atts:
        lines.append(f"attestations ({len(atts)}, not checked by inspect):")
        lines.append(pairs([(f"custodian {a['custodian'][:16]}…",
                              f"for {a['audience']!r}, account {a['subject']!r}, as of {a['as_of']}, "
                              f"{a['slots']} slot(s), " + (f"challenge {a['challenge'][:16]}…" if a["challenge"]
                                                          else "no challenge")) for a in atts]))
    else:
        lines.append("attestations: none (self-declared values)")
    lines.append("sizes:")
    rows = [
        ("commitments", f"{desc['commitments']} x 48 bytes = {desc['commitment_bytes']} bytes"),
        ("proof", f"{desc['proof_bytes']} bytes (version {desc['proof_version']}, "
                  f"{desc['inner_product_rounds']} inner-product rounds, "
                  f"{desc['padded_gates']} padded gates)"),
    ]
    if desc.get("bundle_bytes") is not None:
        rows.append(("bundle file", f"{desc['bundle_bytes']} bytes"))
    lines.append(pairs(rows))
    lines.append("note: inspect only reads the public fields; 'zkmargin verify' checks the proof")
    return "\n".join(lines)


# --- progress ------------------------------------------------------------------------------------


class _Phase:
    """The latest progress report of a proof (:mod:`zkmargin.prover.progress`) and when the
    counted work began, for the estimate."""

    def __init__(self) -> None:
        self.name = ""
        self.done = 0
        self.total = 0
        self.work_started: float | None = None

    def update(self, name: str, done: int, total: int) -> None:
        if total and self.work_started is None:
            self.work_started = time.monotonic()
        self.name, self.done, self.total = name, done, total

    def text(self, now: float) -> str:
        """``phase`` and, once some counted work is done, ``about N s left``."""
        out = self.name
        if self.total and self.done and self.work_started is not None:
            rate = self.done / max(now - self.work_started, 1e-6)
            out += f", about {max(self.total - self.done, 0) / rate:.1f} s left"
        return out


def progress_enabled(stream: TextIO | None = None) -> bool:
    """Progress goes to a terminal only, and never with ``--quiet``."""
    ctx = click.get_current_context(silent=True)
    if ctx is not None and (ctx.find_root().obj or {}).get("quiet"):
        return False
    stream = stream if stream is not None else sys.stderr
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):
        return False


@contextlib.contextmanager
def progress(label: str, enabled: bool | None = None, stream: TextIO | None = None,
             delay: float = 0.3, interval: float = 0.1) -> Iterator[None]:
    """A spinner with elapsed time on ``stream`` (stderr) while the block runs, shown only when
    the stream is a terminal and the block takes more than ``delay`` seconds; erased after. A
    proof made inside the block reports its phases (building the circuit, committing, each
    inner-product round) and, once the counted work has begun, an estimate of the time left
    (:mod:`zkmargin.prover.progress`)."""
    from zkmargin.prover.progress import listening

    stream = stream if stream is not None else sys.stderr
    if enabled is None:
        enabled = progress_enabled(stream)
    if not enabled:
        yield
        return
    stop = threading.Event()
    shown = threading.Event()
    phase = _Phase()
    t0 = time.monotonic()

    def spin() -> None:
        frames = "|/-\\"
        i = 0
        width = 0
        while not stop.wait(interval):
            now = time.monotonic()
            elapsed = now - t0
            if elapsed < delay:
                continue
            detail = phase.text(now)
            line = f"{frames[i % 4]} {label}" + (f": {detail}" if detail else "") + f" ({elapsed:.1f}s)"
            try:
                stream.write("\r" + line + " " * max(width - len(line), 0))
                stream.flush()
            except (OSError, ValueError):
                return
            width = len(line)
            shown.set()
            i += 1

    thread = threading.Thread(target=spin, name="zkmargin-progress", daemon=True)
    thread.start()
    try:
        with listening(phase.update):
            yield
    finally:
        stop.set()
        thread.join()
        if shown.is_set():
            try:
                stream.write("\r\033[K")
                stream.flush()
            except (OSError, ValueError):
                pass
