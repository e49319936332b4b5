"""The workflow options other commands reuse, and the one library call each of ``verify``,
``verify-batch`` and ``prove`` makes with them.

:func:`log_option` (``--log``, ``--log-key``), :func:`trust_options` (``--subject``,
``--max-age``), :func:`openings_options` (``--attestation``, ``--openings``) and the functions
:func:`run_verify`, :func:`run_verify_batch`, :func:`run_prove` (in :mod:`.commands_core`), which
fall back to the plain library calls when those options are absent; :func:`slot_list` parses the
``--slots`` of ``attest`` and ``open``.

May import the library (the API, the documents, the workflows, the log). Used by the CLI's command
modules only.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import click

from .params import MAX_AGE

json_option = click.option("--json", "as_json", is_flag=True, help="Write exactly one JSON document to stdout.")


def slot_list(text: str | None) -> list[str] | None:
    if text is None:
        return None
    slots = [s.strip() for s in text.split(",") if s.strip()]
    if not slots:
        raise click.BadParameter("name at least one slot, e.g. size:BTCUSDT,balance:USDT", param_hint="'--slots'")
    return slots


# --- options other commands reuse ------------------------------------------------------------------


def log_option(f):
    """``--log LOG --log-key KEY``: append every outcome to this verification log (SQLite, created
    if absent) and sign the new tree head with the venue's key."""
    f = click.option("--log-key", "log_key", default=None, metavar="KEY",
                     help="The venue's Ed25519 signing key file ('zkmargin venue-keygen'): signs the "
                          "log's tree head after every append; never stored in the log.")(f)
    return click.option("--log", "log", default=None, metavar="LOG",
                        help="Append the outcome (accepted or rejected) to this transparency log "
                             "(SQLite Merkle log, created if absent; needs --log-key). A challenge "
                             "the log accepted before is refused as a replay.")(f)


def log_key_needed(log, log_key) -> None:
    if log is not None and log_key is None:
        raise click.UsageError("--log needs --log-key KEY (the venue's signing key; 'zkmargin venue-keygen' "
                               "makes one)")
    if log is None and log_key is not None:
        raise click.UsageError("--log-key goes with --log LOG")


def trust_options(f=None, *, batch: bool = False):
    """``--subject ID`` (repeatable for batches) and ``--max-age SECONDS``: the account the proof
    is for and a tighter attestation age. The rule itself is the policy's (its ``trust``
    section); no option loosens it."""
    def wrap(fn):
        fn = click.option("--max-age", "max_age", type=MAX_AGE, default=None, metavar="SECONDS",
                          help="Refuse attestations older than this; may only tighten the policy's "
                               "trust.max_age_seconds.")(fn)
        help_text = ("The account id this venue knows for the trader (what the custodians' "
                     "attestations must name); required when the policy lists custodians.")
        if batch:
            fn = click.option("--subject", "subject", multiple=True, metavar="ID",
                              help=help_text + " None, one for every proof, or one per proof in order.")(fn)
        else:
            fn = click.option("--subject", "subject", default=None, metavar="ID", help=help_text)(fn)
        return fn

    return wrap if f is None else wrap(f)


def openings_options(f):
    """``--attestation FILE`` and ``--openings FILE`` (both repeatable) for ``prove``."""
    f = click.option("--openings", "openings", multiple=True, metavar="OPENINGS",
                     help="Openings (zkmargin.openings/1) from 'attest' or 'commit'; the proof's "
                          "commitments are then the attested (or committed) ones.")(f)
    f = click.option("--attestation", "-a", "attestations", multiple=True, metavar="ATTESTATION",
                     help="The custodian attestation(s) the openings belong to.")(f)
    return f


def run_verify(proof, market, policy, threshold, challenge, *, log=None, log_key=None, subject=None,
               max_age=None, backend=None, min_zone=None):
    """What ``verify`` calls: the policy's full rule, logged (with a receipt) when ``log`` is
    given."""
    log_key_needed(log, log_key)
    if log is None:
        # zkmargin.verify, with the prepared verifier from the disk cache (a cold process neither
        # parses the documents nor builds the circuit when an entry is there)
        from zkmargin.prepared_store import verify_cached

        return verify_cached(Path(proof), market, policy, threshold, challenge, subject=subject,
                             max_age=max_age, backend=backend, min_zone=min_zone)
    if min_zone is not None:
        raise click.UsageError("--min-zone with --log is not supported yet")
    from zkmargin.errors import FormatError
    from zkmargin.verifier.log import verify_and_log

    bundle, unreadable = _bundle_arg(proof)
    try:
        return verify_and_log(bundle, market, policy, threshold, challenge, log=log, log_key=log_key,
                              subject=subject, max_age=max_age, backend=backend)
    except FormatError as exc:
        if unreadable is None or exc.source is not None:
            raise
        # the log recorded the raw bytes; the trader is told what is wrong with which file
        unreadable.log_entry, unreadable.receipt = exc.log_entry, exc.receipt
        raise unreadable from None


def _bundle_arg(proof):
    """(a parsed bundle, None), or for a file that does not parse (its raw bytes, so the log
    records the rejection; the error naming the file and what is wrong)."""
    from zkmargin.documents.bundle import ProofBundle
    from zkmargin.errors import FormatError

    try:
        return ProofBundle.load(proof), None
    except FormatError as exc:
        p = Path(proof)
        if not p.is_file():
            raise
        with open(p, "rb") as fh:
            return fh.read(1 << 20), exc


def run_verify_batch(proofs, market, policy, threshold, challenges, *, log=None, log_key=None, subject=None,
                     max_age=None, backend=None):
    """What ``verify-batch`` calls."""
    log_key_needed(log, log_key)
    if log is None:
        # zkmargin.verify_batch, with the prepared verifier from the disk cache
        from zkmargin.prepared_store import verify_batch_cached

        return verify_batch_cached([Path(p) for p in proofs], market, policy, threshold, challenges,
                                   subject=subject, max_age=max_age, backend=backend)
    from zkmargin.verifier.log import verify_batch_and_log

    return verify_batch_and_log([_bundle_arg(p)[0] for p in proofs], market, policy, threshold, challenges,
                                log=log, log_key=log_key, subject=subject, max_age=max_age, backend=backend)


def run_prove(account, market, policy, threshold, challenge, *, attestations: Sequence = (),
              openings: Sequence = (), backend=None, timings=None, zone=None):
    """What ``prove`` calls: over attested commitments (``attestations`` + ``openings``; the
    bundle then carries the attestations), over self-made openings (``openings`` only, from
    ``commit``), or plain."""
    import zkmargin
    from zkmargin.workflows.custodian import prove_attested, prove_with_openings

    if zone is not None and (attestations or openings):
        raise click.UsageError("--zone over attested commitments is not supported yet")
    if attestations:
        if not openings:
            raise click.UsageError("--attestation needs the matching --openings")
        return prove_attested(account, market, policy, threshold, challenge, attestations=attestations,
                                     openings=openings, backend=backend)
    if openings:
        if len(openings) != 1:
            raise click.UsageError("several --openings need their --attestation files")
        return prove_with_openings(account, market, policy, threshold, challenge, openings=openings[0],
                                          backend=backend)
    return zkmargin.prove(account, market, policy, threshold, challenge, backend=backend, timings=timings,
                          zone=zone)
