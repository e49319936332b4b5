"""``zkmargin demo``: the whole story on the example data shipped inside the package.

1. The trader computes the clear-text margin report of a cross-margin account (private).
2. The venue issues a fresh challenge.
3. The trader proves the account meets the requirement plus a threshold, revealing nothing else.
4. The venue verifies with its OWN copy of the policy and market snapshot.
5. Forgeries are rejected: a flipped proof byte, a proof replayed to another challenge, a bundle
   whose public statement was edited to claim a higher threshold.
6. An under-margined account (the same one with its balances shrunk to 1 %) is refused by the
   prover; a prover that ignores the refusal gets a proof the venue rejects.
7. Isolated and portfolio margin: one proof each.
8. A venue whose policy lists a custodian (the example key shipped with zkmargin plays the
   custodian): the attested proof is accepted and the result says who vouched; the same
   attestation for another account, at another venue, presented two hours later or replayed with
   another challenge is rejected, and so are self-declared values.

:func:`run_demo` prints as it goes (through ``echo``) and returns a :class:`DemoResult` whose ``ok``
is True only when every step behaved as expected.

May import the API and everything below it, the custodian workflow and the report's text form
(:mod:`.report_text`, shared with ``zkmargin check``). Used by the CLI (``demo``) and the tests.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from importlib.resources import files

from ..api import ProveTimings, check, prove, verify
from ..crypto.backends import get_backend
from ..documents.bundle import ProofBundle
from ..errors import BelowRequirementError, Rejected
from ..rules.models import (
    Account,
    Market,
    Policy,
    dump_document,
    load_account,
    load_market,
    load_policy,
)
from .report_text import format_report

__all__ = ["DemoStep", "DemoResult", "example", "custodian_example", "run_demo", "DEMO_THRESHOLD"]

#: The account id the custodied venue knows for the demo's trader.
DEMO_SUBJECT = "trader-42"

#: Headroom (quote currency) the venue asks for above the buffered requirement in the demo.
DEMO_THRESHOLD = "10000"
#: The under-margined account keeps 1/SHRINK of its balances.
SHRINK = 100


@dataclass
class DemoStep:
    name: str
    expected: str
    outcome: str
    ok: bool


@dataclass
class DemoResult:
    steps: list[DemoStep] = field(default_factory=list)
    timings: dict = field(default_factory=dict)
    sizes: dict = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return bool(self.steps) and all(s.ok for s in self.steps)


def example(mode: str) -> tuple[Policy, Market, Account]:
    """The example (policy, market, account) for ``mode`` (cross, isolated, portfolio), read from
    the package data (``zkmargin/data``) with :mod:`importlib.resources`."""
    data = files("zkmargin.data")

    def read(kind: str):
        name = f"example_{kind}_{mode}.json"
        return data.joinpath(name).read_bytes(), f"zkmargin/data/{name}"

    raw, src = read("policy")
    pol = load_policy(raw, source=src)
    raw, src = read("market")
    mkt = load_market(raw, pol, source=src)
    raw, src = read("account")
    acct = load_account(raw, pol, source=src)
    return pol, mkt, acct


def custodian_example(now: datetime | None = None):
    """The venue with a custodian (``example_policy_custodian.json``), its market snapshot stamped
    with ``now`` (default: the current time: attestations are checked against it), the cross
    example account, and the published EXAMPLE custodian key (``example_custodian_key.json``;
    anyone can sign with it, never list it in a real policy)."""
    import json

    from ..crypto.ed25519 import load_private_key

    data = files("zkmargin.data")
    name = "example_policy_custodian.json"
    pol = load_policy(data.joinpath(name).read_bytes(), source=f"zkmargin/data/{name}")
    _pol, mkt, _acct = example("cross")
    stamp = (now or datetime.now(UTC)).strftime("%Y-%m-%dT%H:%M:%SZ")
    mkt = load_market({**dump_document(mkt), "as_of": stamp}, pol, source="(example market, stamped now)")
    acct = load_account(dump_document(example("cross")[2]), pol, source="zkmargin/data/example_account_cross.json")
    key = json.loads(data.joinpath("example_custodian_key.json").read_text())
    return pol, mkt, acct, load_private_key(key["seed"])


def shrink_balances(account: Account, policy: Policy, factor: int = SHRINK) -> Account:
    """A copy of ``account`` with every balance divided by ``factor`` (rounded down to the
    policy's amount scale), built in memory."""
    doc = dump_document(account)
    unit = Decimal(1).scaleb(-policy.decimals.amount)
    doc["balances"] = {k: str((Decimal(v) / factor).quantize(unit, rounding="ROUND_FLOOR"))
                       for k, v in doc.get("balances", {}).items()}
    return load_account(doc, policy, source=f"(in memory: balances / {factor})")


def _flip(data: bytes, index: int) -> bytes:
    b = bytearray(data)
    b[index] ^= 0x01
    return bytes(b)


def run_demo(echo: Callable[[str], None] = print, backend=None,
             threshold: str = DEMO_THRESHOLD) -> DemoResult:
    """Run the demo, printing through ``echo``; see the module docstring."""
    be = get_backend(backend)
    res = DemoResult()
    t_all = time.perf_counter()

    def step(name: str, expected: str, outcome: str, ok: bool) -> None:
        res.steps.append(DemoStep(name, expected, outcome, ok))
        mark = "ok " if ok else "UNEXPECTED"
        echo(f"   [{mark}] {outcome}")

    def expect_rejected(name: str, fn: Callable[[], object], expected: str) -> None:
        try:
            fn()
        except Rejected as exc:
            step(name, expected, f"rejected: {exc.one_line()}", True)
        else:
            step(name, expected, "ACCEPTED (should have been rejected)", False)

    pol, mkt, acct = example("cross")
    echo("zkmargin demo: a trader proves a hidden account meets a venue's margin requirement")
    echo(f"(example data: zkmargin/data/example_*_cross.json; backend {be.name})")
    echo("")

    # 1. trader, clear text
    echo(f"1. Trader: the clear-text margin report (private, never leaves the trader), with the "
         f"venue's threshold of {threshold} {pol.quote}")
    report = check(acct, mkt, pol, threshold)
    for line in format_report(report).splitlines():
        echo("   " + line)
    step("report", "meets", "the account meets the requirement" if report.meets
         else "the account does NOT meet the requirement", report.meets)
    echo("")

    # 2. venue, challenge
    challenge = secrets.token_bytes(32)
    echo(f"2. Venue: a fresh, single-use challenge: {challenge.hex()}")
    echo("")

    # 3. trader, prove
    echo("3. Trader: prove it (Bulletproofs over BLS12-381, no trusted setup)")
    tm = ProveTimings()
    t0 = time.perf_counter()
    try:
        bundle = prove(acct, mkt, pol, threshold, challenge, backend=be, timings=tm)
    except Rejected as exc:
        step("prove", "a proof", f"refused: {exc.one_line()}", False)
        return res
    res.timings["prove_seconds"] = time.perf_counter() - t0
    res.timings["build_seconds"] = tm.build
    data = bundle.to_json().encode()
    res.sizes = {"gates": bundle.statement["gates"], "padded_gates": 1 << bundle.proof[5],
                 "commitments": len(bundle.commitments), "proof_bytes": len(bundle.proof),
                 "bundle_bytes": len(data)}
    echo(f"   proof bundle: {len(bundle.commitments)} commitments, {len(bundle.proof)}-byte proof "
         f"for {bundle.statement['gates']} gates, {len(data)} bytes of JSON, in "
         f"{res.timings['prove_seconds']:.2f} s")
    echo("   the bundle holds the public statement, commitments and proof: no size, price or "
         "balance")
    step("prove", "a proof", "proof produced", True)
    echo("")

    # 4. venue, verify with its own copy
    echo("4. Venue: verify with its OWN policy and market snapshot (never the bundle's)")
    v_pol, v_mkt, _ = example("cross")
    received = ProofBundle.from_json(data, source="received bundle")
    t0 = time.perf_counter()
    try:
        result = verify(received, v_mkt, v_pol, threshold, challenge, backend=be)
    except Rejected as exc:
        step("verify", "valid", f"rejected: {exc.one_line()}", False)
    else:
        res.timings["verify_seconds"] = time.perf_counter() - t0
        step("verify", "valid", f"valid ({result.gates} gates, verified in "
                                f"{result.seconds * 1000:.0f} ms)", True)
    echo("")

    # 5. forgeries
    echo("5. Forgeries the venue rejects")
    echo("   a) one bit of the proof flipped:")
    tampered = ProofBundle(dict(received.statement), list(received.commitments),
                           _flip(received.proof, len(received.proof) // 2))
    expect_rejected("tampered proof",
                    lambda: verify(tampered, v_mkt, v_pol, threshold, challenge, backend=be),
                    "rejected")
    echo("   b) the same proof replayed to a new challenge:")
    expect_rejected("replayed proof",
                    lambda: verify(received, v_mkt, v_pol, threshold, secrets.token_bytes(32),
                                   backend=be), "rejected")
    higher = str(Decimal(threshold) * 5)
    echo(f"   c) the bundle's statement edited to claim a threshold of {higher}:")
    edited = ProofBundle({**received.statement, "threshold": higher}, list(received.commitments),
                         received.proof)
    expect_rejected("edited statement",
                    lambda: verify(edited, v_mkt, v_pol, higher, challenge, backend=be),
                    "rejected")
    echo("")

    # 6. under-margined
    echo(f"6. An under-margined account: the same account with 1/{SHRINK} of its balances")
    thin = shrink_balances(acct, pol)
    thin_report = check(thin, mkt, pol, threshold)
    echo(f"   clear text: equity {thin_report.to_json_dict()['equity']} < required "
         f"{thin_report.to_json_dict()['required']} {pol.quote}")
    step("under-margined check", "does not meet",
         "the account does not meet the requirement" if not thin_report.meets
         else "the account meets the requirement", not thin_report.meets)
    challenge2 = secrets.token_bytes(32)
    try:
        prove(thin, mkt, pol, threshold, challenge2, backend=be)
    except BelowRequirementError as exc:
        step("under-margined prove", "refused", f"the prover refuses: {exc.one_line()}", True)
    else:
        step("under-margined prove", "refused", "a proof was produced", False)
    echo("   a prover that ignores the refusal and forces a proof anyway:")
    try:
        forced = prove(thin, mkt, pol, threshold, challenge2, backend=be, _check_witness=False)
    except Rejected as exc:
        step("forced proof", "rejected", f"no proof could be forced: {exc.one_line()}", True)
    else:
        expect_rejected("forced proof",
                        lambda: verify(forced, v_mkt, v_pol, threshold, challenge2, backend=be),
                        "rejected")
    echo("")

    # 7. other modes
    echo("7. The other margin modes (example data shipped with zkmargin)")
    for mode in ("isolated", "portfolio"):
        m_pol, m_mkt, m_acct = example(mode)
        ch = secrets.token_bytes(32)
        t0 = time.perf_counter()
        try:
            b = prove(m_acct, m_mkt, m_pol, 0, ch, backend=be)
            r = verify(b, m_mkt, m_pol, 0, ch, backend=be)
        except Rejected as exc:
            step(mode, "valid", f"{mode}: rejected: {exc.one_line()}", False)
            continue
        step(mode, "valid", f"{mode} ({m_pol.venue}): proved and verified, {r.gates} gates, "
                            f"proof {len(b.proof)} bytes, {time.perf_counter() - t0:.2f} s", True)
    echo("")

    _custodied_venue(echo, step, expect_rejected, be)

    res.timings["total_seconds"] = time.perf_counter() - t_all
    good = sum(s.ok for s in res.steps)
    echo("Summary")
    echo(f"   proof {res.sizes['proof_bytes']} bytes + {res.sizes['commitments']} x 48-byte "
         f"commitments; bundle {res.sizes['bundle_bytes']} bytes; {res.sizes['gates']} gates "
         f"(padded to {res.sizes['padded_gates']})")
    verify_ms = res.timings.get("verify_seconds")
    echo(f"   prove {res.timings['prove_seconds']:.2f} s, verify "
         + (f"{verify_ms * 1000:.0f} ms" if verify_ms is not None else "-")
         + f", whole demo {res.timings['total_seconds']:.1f} s")
    echo(f"   {good}/{len(res.steps)} steps behaved as expected"
         + ("" if res.ok else " -- SOMETHING IS WRONG"))
    return res


def _custodied_venue(echo, step, expect_rejected, be) -> None:
    """Step 8: a venue that accepts only what its custodian vouches for (module docstring)."""
    from ..documents.trust import describe
    from .custodian import attest, prove_attested

    pol, mkt, acct, key = custodian_example()
    t = pol.trust
    echo(f"8. A venue that accepts only what its custodian vouches for ({pol.venue}: custodian "
         f"{t.custodians[0].name!r}, attestations at most {t.max_age_seconds} s old and made for the venue's "
         f"challenge). The EXAMPLE key shipped with zkmargin plays the custodian; never trust it for real.")
    challenge = secrets.token_bytes(32)
    att, op = attest(acct, None, pol, key, subject=DEMO_SUBJECT, challenge=challenge, backend=be)
    echo(f"   the custodian signs commitments to the trader's book for venue {att.audience!r}, account "
         f"{att.subject!r} and the venue's challenge {challenge.hex()[:16]}...")
    try:
        bundle = prove_attested(acct, mkt, pol, 0, challenge, attestations=[att], openings=[op], backend=be)
        result = verify(bundle, mkt, pol, 0, challenge, subject=DEMO_SUBJECT, backend=be)
    except Rejected as exc:
        step("custodied venue", "valid", f"rejected: {exc.one_line()}", False)
        return
    step("custodied venue", "valid", f"valid; {describe(result.extra.get('trust'))}", True)

    echo("   a) the same proof and attestation, for another account:")
    expect_rejected("other subject", lambda: verify(bundle, mkt, pol, 0, challenge, subject="trader-43",
                                                    backend=be), "rejected")
    echo("   b) the attestation, presented to another venue (same custodian, same rules):")
    other = pol.model_copy(update={"venue": "another-venue"})
    elsewhere = prove(acct, mkt, other, 0, challenge, backend=be, blindings=op.blindings)
    elsewhere.attestations = [att]
    expect_rejected("other venue", lambda: verify(elsewhere, mkt, other, 0, challenge, subject=DEMO_SUBJECT,
                                                  backend=be), "rejected")
    echo("   c) the same proof presented two hours later (the venue's clock):")
    later = datetime.now(UTC) + timedelta(hours=2)
    expect_rejected("stale attestation", lambda: verify(bundle, mkt, pol, 0, challenge, subject=DEMO_SUBJECT,
                                                        now=later, backend=be), "rejected")
    echo("   d) the attestation replayed with a proof for a new challenge:")
    fresh = secrets.token_bytes(32)
    replayed = prove(acct, mkt, pol, 0, fresh, backend=be, blindings=op.blindings)
    replayed.attestations = [att]
    expect_rejected("other challenge", lambda: verify(replayed, mkt, pol, 0, fresh, subject=DEMO_SUBJECT,
                                                      backend=be), "rejected")
    echo("   e) self-declared values (a proof of the same book without the custodian):")
    plain = prove(acct, mkt, pol, 0, fresh, backend=be)
    expect_rejected("self-declared", lambda: verify(plain, mkt, pol, 0, fresh, subject=DEMO_SUBJECT, backend=be),
                    "rejected")
    echo("")
