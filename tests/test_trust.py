"""The venue's trust rule (policy ``trust`` section, zkmargin.documents.trust), attack by attack, each with
its honest twin: through the library, the command line (exit 1 for a rejection, 2 for an input
error, one line each), verify-batch, the service's verification call and the audit of a log.

A small venue (one perpetual, one collateral asset) keeps each proof near 0.15 s."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
from click.testing import CliRunner

import zkmargin
from zkmargin.api import _verify_bare
from zkmargin.cli.main import cli
from zkmargin.documents.trust import MAX_CLOCK_SKEW_SECONDS, describe, recheck_accepted
from zkmargin.errors import (
    AttestationRejectedError,
    FormatError,
    InputError,
    PolicyError,
    UnchallengedProofError,
)
from zkmargin.verifier.audit import audit
from zkmargin.verifier.log import VerificationLog, verify_and_log, verify_batch_and_log
from zkmargin.workflows import custodian as A

KEY = A.generate_private_key()
STRANGER = A.generate_private_key()
VENUE = A.generate_private_key()  # signs the logs' tree heads
BASE = {
    "format": "zkmargin.policy/1", "venue": "trust-test-venue", "quote": "USDT",
    "decimals": {"size": 3, "price": 2, "rate": 4, "amount": 2},
    "bits": {"size": 32, "price": 32, "amount": 40},
    "requirement": "maintenance", "mode": "cross", "buffer": "0.1",
    "collateral": [{"asset": "USDT", "haircut": "0"}],
    "instruments": [{"symbol": "BTCUSDT", "kind": "perpetual", "maintenance": {"rate": "0.005"},
                     "initial": {"rate": "0.01"}}],
}
ACCOUNT = {"format": "zkmargin.account/1", "balances": {"USDT": "10000"},
           "positions": [{"symbol": "BTCUSDT", "size": "1.5", "entry_price": "66000"}]}
MAX_AGE = 600
T0 = datetime.now(UTC).replace(microsecond=0)
CH = b"\x5a" * 32
CH2 = b"\xa5" * 32
CH3 = b"\x3c" * 32


def iso(t: datetime) -> str:
    return t.strftime("%Y-%m-%dT%H:%M:%SZ")


def policy(venue="trust-test-venue", **trust) -> dict:
    """The small venue; by default it lists one custodian (KEY) with a 10-minute limit."""
    section = {"custodians": [{"name": "acme-custody", "key": A.public_key_hex(KEY)}],
               "max_age_seconds": MAX_AGE}
    section.update(trust)
    return {**BASE, "venue": venue, "trust": section}


def market(at: datetime = T0) -> dict:
    return {"format": "zkmargin.market/1", "as_of": iso(at), "prices": {"BTCUSDT": "67250.40"}}


POLICY, MARKET = policy(), market()


def attested(pol=POLICY, mkt=MARKET, ch=CH, *, subject="acct-1", at: datetime = T0, key=KEY, att_ch=None,
             slots=None, att_policy=None, force=False):
    """A custodian attestation (for ``att_policy`` or ``pol``) and the trader's proof over it.
    ``force`` (implied by ``att_policy``) skips the prover's own checks of the attestation: what a
    trader replaying an attestation made for another venue or challenge would send."""
    att, op = A.attest(ACCOUNT, None, att_policy or pol, key, subject=subject, challenge=att_ch, as_of=iso(at),
                       slots=slots)
    if att_policy is None and not force:
        return A.prove_attested(ACCOUNT, mkt, pol, 0, ch, attestations=[att], openings=[op])
    names = ["size:BTCUSDT", "cost", "balance:USDT"]  # the small venue's slots
    blindings = [op.blindings[op.slots.index(s)] if s in op.slots else 7 + k for k, s in enumerate(names)]
    bundle = zkmargin.prove(ACCOUNT, mkt, pol, 0, ch, blindings=blindings)
    bundle.attestations = [att]
    return bundle


def verify(bundle, pol=POLICY, mkt=MARKET, ch=CH, **kw):
    kw.setdefault("subject", "acct-1")
    kw.setdefault("now", T0 + timedelta(seconds=5))
    return zkmargin.verify(bundle, mkt, pol, 0, ch, **kw)


@pytest.fixture(scope="module")
def good():
    return attested()


# --- the honest case ---------------------------------------------------------------------------


def test_an_attested_proof_passes_and_says_who_vouched(good):
    res = verify(good)
    t = res.extra["trust"]
    assert t == {"self_declared": False, "subject": "acct-1", "challenge": CH.hex(), "unattested_slots": [],
                 "custodians": [{"name": "acme-custody", "key": A.public_key_hex(KEY), "as_of": iso(T0),
                                 "age_seconds": 5.0, "challenge_bound": False, "slots": 3}]}
    text = describe(t)
    assert "vouched for by acme-custody" in text and "5 s old" in text and "acct-1" in text
    json.dumps(res.to_json_dict())  # JSON-able as the CLI and the service write it


# --- freshness ---------------------------------------------------------------------------------


def test_a_stale_attestation_is_rejected_against_the_clock():
    earlier = T0 - timedelta(hours=2)
    old_market = market(earlier)  # the snapshot of that time: only the verifier's clock says stale
    bundle = attested(mkt=old_market, at=earlier)
    with pytest.raises(AttestationRejectedError, match="stale: made 72\\d\\d s before"):
        verify(bundle, mkt=old_market, now=T0)
    # twin: the same bundle at the time it was made
    assert verify(bundle, mkt=old_market, now=earlier + timedelta(seconds=30)).valid


def test_a_stale_attestation_is_rejected_against_the_market_snapshot(good):
    later = market(T0 + timedelta(hours=2))  # the venue's snapshot moved on; the attestation did not
    bundle = attested(mkt=later)
    with pytest.raises(AttestationRejectedError, match="away from the market snapshot's time"):
        verify(bundle, mkt=later, now=T0 + timedelta(seconds=10))
    assert verify(good).valid  # twin: attestation and snapshot of the same time


def test_an_attestation_from_the_future_is_rejected(good):
    with pytest.raises(AttestationRejectedError, match="in the verifier's future"):
        verify(good, now=T0 - timedelta(seconds=MAX_CLOCK_SKEW_SECONDS + 5))
    assert verify(good, now=T0 - timedelta(seconds=MAX_CLOCK_SKEW_SECONDS - 5)).valid  # within the skew


def test_max_age_may_only_tighten_the_policy(good):
    for bad in (float("nan"), float("inf"), -1, 0, True, "60"):
        with pytest.raises(InputError, match="max_age|maximum age"):
            verify(good, max_age=bad)
    with pytest.raises(InputError, match="may only tighten"):
        verify(good, max_age=2 * MAX_AGE)
    with pytest.raises(AttestationRejectedError, match="stale"):
        verify(good, max_age=3)  # the attestation is 5 s old
    assert verify(good, max_age=60).valid
    with pytest.raises(InputError, match="no custodians"):  # nothing to tighten
        verify(zkmargin.prove(ACCOUNT, MARKET, BASE, 0, CH), pol=BASE, max_age=60)


# --- bound to this venue, this account, this request -------------------------------------------


def test_an_attestation_for_another_subject_is_rejected(good):
    with pytest.raises(AttestationRejectedError, match="another account"):
        verify(good, subject="acct-2")
    assert verify(good, subject="acct-1").valid
    with pytest.raises(InputError, match="subject"):  # the venue must say which account it expects
        verify(good, subject=None)


def test_an_attestation_for_another_venue_is_rejected():
    other = policy(venue="another-venue")
    bundle = attested(att_policy=other)  # made for another-venue, used here
    with pytest.raises(AttestationRejectedError, match="addressed to another venue"):
        verify(bundle)
    assert verify(attested(pol=other), pol=other).valid  # twin: at the venue it was made for


def test_an_attestation_for_another_challenge_is_rejected():
    with pytest.raises(A.AttestationError, match="another challenge"):  # the prover refuses
        attested(ch=CH2, att_ch=CH)
    replayed = attested(ch=CH2, att_ch=CH, force=True)  # made for CH, presented with a proof for CH2
    with pytest.raises(AttestationRejectedError, match="another challenge"):
        verify(replayed, ch=CH2)
    assert verify(attested(ch=CH2, att_ch=CH2), ch=CH2).valid  # twin: its own challenge


def test_a_policy_can_require_attestations_bound_to_its_challenge(good):
    strict = policy(attestation_challenge=True)
    with pytest.raises(AttestationRejectedError, match="carries no challenge"):
        verify(attested(pol=strict), pol=strict)
    res = verify(attested(pol=strict, att_ch=CH), pol=strict)
    assert res.extra["trust"]["custodians"][0]["challenge_bound"] is True
    assert "made for this challenge" in describe(res.extra["trust"])


def test_an_unknown_custodian_is_rejected():
    with pytest.raises(AttestationRejectedError, match="does not list"):
        verify(attested(key=STRANGER))
    # twin: the same custodian once the venue lists it
    both = policy(custodians=[{"name": "acme-custody", "key": A.public_key_hex(KEY)},
                              {"name": "new-custody", "key": A.public_key_hex(STRANGER)}])
    assert verify(attested(pol=both, key=STRANGER), pol=both).extra["trust"]["custodians"][0]["name"] == "new-custody"


def test_a_missing_required_slot_kind_is_rejected():
    with pytest.raises(A.AttestationError, match="attested by no custodian"):  # the prover refuses
        attested(slots=["size:BTCUSDT"])
    with pytest.raises(AttestationRejectedError, match=r"\['cost', 'balance:USDT'\] are attested by no custodian"):
        verify(attested(slots=["size:BTCUSDT"], force=True))
    sizes_only = policy(attest=["size"])  # twin: a venue that requires only sizes attested
    res = verify(attested(pol=sizes_only, slots=["size:BTCUSDT"]), pol=sizes_only)
    assert res.extra["trust"]["unattested_slots"] == ["cost", "balance:USDT"]
    assert "self-declared slots" in describe(res.extra["trust"])


def test_self_declared_values_are_refused_when_custodians_are_listed():
    plain = zkmargin.prove(ACCOUNT, MARKET, POLICY, 0, CH)
    assert _verify_bare(plain, MARKET, POLICY, 0, CH).valid  # the proof itself is fine
    with pytest.raises(AttestationRejectedError, match="self-declared values"):
        verify(plain)
    # twin: a venue that lists no custodians accepts it and says so
    res = verify(zkmargin.prove(ACCOUNT, MARKET, BASE, 0, CH), pol=BASE, subject=None)
    assert res.extra["trust"]["self_declared"] is True and res.extra["trust"]["custodians"] == []
    assert describe(res.extra["trust"]).startswith("self-declared values")


def test_an_unchallenged_proof_is_refused_unless_the_policy_allows_it():
    bundle = zkmargin.prove(ACCOUNT, MARKET, BASE, 0)
    with pytest.raises(UnchallengedProofError, match="answers no challenge"):
        verify(bundle, pol=BASE, ch=None, subject=None)
    open_venue = {**BASE, "trust": {"unchallenged": True}}
    res = verify(zkmargin.prove(ACCOUNT, MARKET, open_venue, 0), pol=open_venue, ch=None, subject=None)
    assert res.extra["trust"]["challenge"] is None


def test_an_attestation_from_another_zkmargin_is_an_input_error(good):
    doc = good.to_json_dict()
    doc["attestations"][0]["format"] = "zkmargin.attestation/1"
    with pytest.raises(FormatError, match="older attestation format") as e:
        verify(doc)
    assert e.value.field == "attestations[0].format"
    old = good.to_json_dict()
    old["format"] = "zkmargin.proof/1"
    del old["attestations"]
    with pytest.raises(FormatError, match="older zkmargin .* prove again"):
        verify(old)
    assert verify(good.to_json_dict()).valid  # twin: the current formats


# --- the policy section ------------------------------------------------------------------------


@pytest.mark.parametrize("section, field", [
    ({"custodians": [{"name": "x", "key": "AB" * 32}], "max_age_seconds": 60}, "trust.custodians[0].key"),
    ({"custodians": [{"name": "x", "key": "ab" * 31}], "max_age_seconds": 60}, "trust.custodians[0].key"),
    ({"custodians": [{"name": "x", "key": "ab" * 32}]}, "trust.max_age_seconds"),
    ({"custodians": [{"name": "x", "key": "ab" * 32}], "max_age_seconds": 0}, "trust.max_age_seconds"),
    ({"custodians": [{"name": "x", "key": "ab" * 32}], "max_age_seconds": "1.5"}, "trust.max_age_seconds"),
    ({"custodians": [{"name": "x", "key": "ab" * 32}], "max_age_seconds": 60, "self_declared": True},
     "trust.self_declared"),
    ({"custodians": [{"name": "x", "key": "ab" * 32}, {"name": "y", "key": "ab" * 32}], "max_age_seconds": 60},
     "trust.custodians[1].key"),
    ({"custodians": [{"name": "x", "key": "ab" * 32}], "max_age_seconds": 60, "attest": ["size", "price"]},
     "trust.attest[1]"),
    ({"custodians": [{"name": "x", "key": "ab" * 32}], "max_age_seconds": 60, "attest": []}, "trust.attest"),
    ({"unchallenged": "yes"}, "trust.unchallenged"),
    ({"self_declared": False}, "trust.self_declared"),
    ({"max_age_seconds": 60}, "trust.max_age_seconds"),
    ({"unchallenged": True, "attestation_challenge": True}, "trust.attestation_challenge"),
    ({"custodian": []}, "trust.custodian"),
])
def test_a_malformed_trust_section_names_its_field(section, field):
    with pytest.raises((FormatError, PolicyError)) as e:
        zkmargin.load_policy({**BASE, "trust": section}, source="policy.json")
    assert e.value.field == field and e.value.source == "policy.json"


def test_the_default_rule_has_one_digest():
    base = zkmargin.policy_digest(zkmargin.load_policy(BASE))
    assert zkmargin.policy_digest(zkmargin.load_policy({**BASE, "trust": {}})) == base
    assert zkmargin.policy_digest(zkmargin.load_policy({**BASE, "trust": {"unchallenged": False}})) == base
    # twin: a section that changes the rule changes the digest (attestations sign it)
    assert zkmargin.policy_digest(zkmargin.load_policy({**BASE, "trust": {"unchallenged": True}})) != base
    listed = zkmargin.load_policy(POLICY)
    assert listed.trust.attest == ["size", "cost", "entry", "isolated", "balance", "position"]
    assert listed.trust.self_declared is False


# --- batches, the service's call, the log and its audit ------------------------------------------


def test_verify_batch_checks_each_bundle_with_its_own_subject():
    b1 = attested(subject="acct-1")
    b2 = attested(ch=CH2, subject="acct-2")
    res = zkmargin.verify_batch([b1, b2], MARKET, POLICY, 0, [CH, CH2], subject=["acct-1", "acct-2"],
                                now=T0 + timedelta(seconds=5))
    assert [r["subject"] for r in res.extra["trust"]] == ["acct-1", "acct-2"]
    with pytest.raises(AttestationRejectedError, match="bundle 1: attestation 0 .* another account"):
        zkmargin.verify_batch([b1, b2], MARKET, POLICY, 0, [CH, CH2], subject="acct-1", now=T0)
    with pytest.raises(InputError, match="subject"):
        zkmargin.verify_batch([b1, b2], MARKET, POLICY, 0, [CH, CH2], now=T0)
    with pytest.raises(UnchallengedProofError, match="bundle 0"):
        zkmargin.verify_batch([zkmargin.prove(ACCOUNT, MARKET, BASE, 0)], MARKET, BASE, 0)


def test_verify_batch_and_log_records_the_trust_outcomes(tmp_path):
    b1 = attested(subject="acct-1")
    plain = zkmargin.prove(ACCOUNT, MARKET, POLICY, 0, CH2)
    path = tmp_path / "batch.log"
    with pytest.raises(AttestationRejectedError, match="bundle 1: self-declared"):
        verify_batch_and_log([b1, plain], MARKET, POLICY, 0, [CH, CH2], log=path, log_key=VENUE, subject="acct-1",
                             now=T0)
    with VerificationLog(path) as lg:
        assert [(e.result, e.code) for e in lg.entries()] == [("accepted", None),
                                                               ("rejected", "AttestationRejectedError")]
    b1b = attested(subject="acct-1", ch=CH3)  # CH was accepted above: a challenge answers one proof
    res = verify_batch_and_log([b1b], MARKET, POLICY, 0, CH3, log=path, log_key=VENUE, subject="acct-1", now=T0)
    assert res.extra["trust"][0]["custodians"][0]["name"] == "acme-custody"


def test_the_service_call_applies_the_policy_rule(tmp_path, good):
    """The service's verification call (Service.verify; the HTTP route passes the authenticated
    account as the subject): stale, other-venue, other-challenge and other-subject attestations
    are refused with the policy's default rule, the honest one passes."""
    from zkmargin.workflows.service import Service, add_client

    fresh = market(datetime.now(UTC).replace(microsecond=0))
    clients = tmp_path / "clients.json"
    keys = {s: add_client(clients, f"desk-{s}", s)[1] for s in ("acct-1", "acct-2")}
    svc = Service(POLICY, fresh, 0, clients=clients, log=tmp_path / "svc.log", log_key=VENUE)

    def post(make, subject="acct-1"):
        client = svc.authenticate(f"Bearer {keys[subject]}")
        ch, _ttl = svc.challenges.issue(client.id, 16)
        return svc.verify(client, make(ch).to_json_dict(), ch.hex())

    now = datetime.now(UTC).replace(microsecond=0)
    other = policy(venue="another-venue")
    for make, needle in (
        (lambda ch: attested(mkt=fresh, ch=ch, at=now - timedelta(hours=1)), "stale"),
        (lambda ch: attested(mkt=fresh, ch=ch, at=now, att_policy=other), "another venue"),
        (lambda ch: attested(mkt=fresh, ch=ch, at=now, att_ch=CH2, force=True), "another challenge"),
    ):
        with pytest.raises(AttestationRejectedError, match=needle):
            post(make)
    with pytest.raises(AttestationRejectedError, match="another account"):
        post(lambda ch: attested(mkt=fresh, ch=ch, at=now), subject="acct-2")
    out = post(lambda ch: attested(mkt=fresh, ch=ch, at=now, att_ch=ch))
    assert out["valid"] and out["trust"]["custodians"][0]["challenge_bound"]
    with pytest.raises(InputError, match="may only tighten"):
        Service(POLICY, fresh, 0, clients=clients, max_age=10 * MAX_AGE)


def test_audit_rechecks_the_trust_rule_of_accepted_entries(tmp_path, good):
    """A venue that logs an acceptance its policy's rule refuses (self-declared values under a
    policy with custodians, an attestation stale at the logged time, no challenge) is caught by
    the audit; entries accepted under the rule pass it."""
    path = tmp_path / "venue.log"
    verify_and_log(good, MARKET, POLICY, 0, CH, log=path, log_key=VENUE, subject="acct-1", now=T0)  # honest
    assert audit(path, venue_key=A.public_key_hex(VENUE)).clean
    plain = zkmargin.prove(ACCOUNT, MARKET, POLICY, 0, CH2)
    unchallenged = zkmargin.prove(ACCOUNT, MARKET, BASE, 0)
    with VerificationLog(path, signing_key=VENUE) as lg:
        lg.record(plain, POLICY, MARKET, 0, CH2, _verify_bare(plain, MARKET, POLICY, 0, CH2), now=iso(T0))
        later = attested(ch=CH3)  # a challenge answers one proof: the log refuses CH a second time
        lg.record(later, POLICY, MARKET, 0, CH3, _verify_bare(later, MARKET, POLICY, 0, CH3),
                  now=iso(T0 + timedelta(days=1)))
        lg.record(unchallenged, BASE, MARKET, 0, None, _verify_bare(unchallenged, MARKET, BASE, 0), now=iso(T0))
    r = audit(path)
    assert not r.clean and r.chain_intact
    reasons = {f["id"]: f["reason"] for f in r.failed_proofs}
    assert set(reasons) == {2, 3, 4}
    assert "self-declared" in reasons[2] and "stale" in reasons[3] and "no challenge" in reasons[4]
    assert all("trust rule" in text for text in reasons.values())
    # the re-check on its own: the subject comes from the attestations when the log has none
    assert recheck_accepted(good, zkmargin.load_policy(POLICY), zkmargin.load_market(MARKET), CH,
                            iso(T0))["subject"] == "acct-1"


# --- the command line ----------------------------------------------------------------------------


def run(*args):
    return CliRunner().invoke(cli, [str(a) for a in args])


def one_line(result, code: int, *needles: str) -> str:
    assert result.exit_code == code, (result.exit_code, result.stdout, result.stderr)
    assert "Traceback" not in result.stdout + result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    for n in needles:
        assert n in lines[0], (n, lines[0])
    return lines[0]


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    """The venue's files with the current time (the CLI verifies against the system clock)."""
    d = tmp_path_factory.mktemp("trust-cli")
    now = datetime.now(UTC).replace(microsecond=0)
    mkt = market(now)
    out = {"dir": d}
    for name, doc in (("policy", POLICY), ("market", mkt), ("base", BASE),
                      ("open", {**BASE, "trust": {"unchallenged": True}})):
        out[name] = d / f"{name}.json"
        out[name].write_text(json.dumps(doc))
    bundles = {
        "good": attested(mkt=mkt, at=now),
        "good2": attested(mkt=mkt, ch=CH2, at=now, subject="acct-2"),
        "stale": attested(mkt=mkt, at=now - timedelta(hours=1)),
        "plain": zkmargin.prove(ACCOUNT, mkt, POLICY, 0, CH),
        "unchallenged": zkmargin.prove(ACCOUNT, mkt, BASE, 0),
        "open": zkmargin.prove(ACCOUNT, mkt, {**BASE, "trust": {"unchallenged": True}}, 0),
        "venue": attested(mkt=mkt, at=now, att_policy=policy(venue="another-venue")),
        "challenge": attested(mkt=mkt, at=now, att_ch=CH2, force=True),
        "stranger": attested(mkt=mkt, at=now, key=STRANGER),
        "slots": attested(mkt=mkt, at=now, slots=["size:BTCUSDT", "balance:USDT"], force=True),
        "snapshot": attested(mkt=market(now - timedelta(hours=2)), at=now),
    }
    out["old-market"] = d / "old-market.json"
    out["old-market"].write_text(json.dumps(market(now - timedelta(hours=2))))
    for name, b in bundles.items():
        out[name + ".proof"] = d / f"{name}.proof.json"
        b.save(out[name + ".proof"])
    old = bundles["good"].to_json_dict()
    old["attestations"][0]["format"] = "zkmargin.attestation/1"
    out["old.proof"] = d / "old.proof.json"
    out["old.proof"].write_text(json.dumps(old))
    return out


def venue_args(files, pol="policy"):
    return ["--market", files["market"], "--policy", files[pol]]


def test_cli_verify_says_who_vouched_and_refuses_another_account(files):
    r = run("verify", files["good.proof"], *venue_args(files), "-c", CH.hex(), "--subject", "acct-1")
    assert r.exit_code == 0, r.stderr
    assert "vouched for by acme-custody" in r.stdout and "acct-1" in r.stdout
    r = run("verify", files["good.proof"], *venue_args(files), "-c", CH.hex(), "--subject", "acct-1", "--json")
    assert json.loads(r.stdout)["trust"]["custodians"][0]["name"] == "acme-custody"
    one_line(run("verify", files["good.proof"], *venue_args(files), "-c", CH.hex(), "--subject", "acct-2"),
             1, "rejected:", "another account")
    r = run("verify", files["good.proof"], *venue_args(files), "-c", CH.hex(), "--subject", "acct-2", "--json")
    assert r.exit_code == 1 and json.loads(r.stdout)["error_type"] == "AttestationRejectedError"
    one_line(run("verify", files["good.proof"], *venue_args(files), "-c", CH.hex()), 2, "error:", "'subject'")


def test_cli_verify_refuses_stale_self_declared_and_unchallenged(files):
    one_line(run("verify", files["stale.proof"], *venue_args(files), "-c", CH.hex(), "--subject", "acct-1"),
             1, "rejected:", "stale")
    one_line(run("verify", files["plain.proof"], *venue_args(files), "-c", CH.hex(), "--subject", "acct-1"),
             1, "rejected:", "self-declared values")
    one_line(run("verify", files["unchallenged.proof"], *venue_args(files, "base")), 1, "rejected:",
             "answers no challenge")
    # twins: a venue that allows unchallenged proofs and lists no custodians says so in words
    r = run("verify", files["open.proof"], *venue_args(files, "open"))
    assert r.exit_code == 0, r.stderr
    assert "self-declared values" in r.stdout


@pytest.mark.parametrize("name, market_file, needle", [
    ("venue", "market", "addressed to another venue"),
    ("challenge", "market", "another challenge"),
    ("stranger", "market", "does not list"),
    ("slots", "market", "['cost'] are attested by no custodian"),
    ("snapshot", "old-market", "away from the market snapshot's time"),
])
def test_cli_verify_rejects_each_foreign_attestation(files, name, market_file, needle):
    """Exit 1 and the reason in one line; the twin (the honest bundle) is
    test_cli_verify_says_who_vouched_and_refuses_another_account."""
    one_line(run("verify", files[name + ".proof"], "--market", files[market_file], "--policy", files["policy"],
                 "-c", CH.hex(), "--subject", "acct-1"), 1, "rejected:", needle)


def test_cli_max_age_is_checked_and_only_tightens(files):
    args = [files["good.proof"], *venue_args(files), "-c", CH.hex(), "--subject", "acct-1"]
    for bad in ("nan", "inf", "-inf", "-5", "0", "soon"):
        one_line(run("verify", *args, "--max-age", bad), 2, "usage error:", "--max-age")
    one_line(run("verify", *args, "--max-age", str(10 * MAX_AGE)), 2, "error:", "'max_age'", "may only tighten")
    assert run("verify", *args, "--max-age", "300").exit_code == 0


def test_cli_an_old_attestation_format_is_an_input_error(files, tmp_path):
    one_line(run("verify", files["old.proof"], *venue_args(files), "-c", CH.hex(), "--subject", "acct-1"),
             2, "error:", "old.proof.json", "'attestations[0].format'", "attest again")
    old_att = tmp_path / "att.json"
    doc = A.SignedCommitments.load(json.loads(files["good.proof"].read_text())["attestations"][0]).to_json_dict()
    doc["format"] = "zkmargin.attestation/1"
    old_att.write_text(json.dumps(doc))
    ops = tmp_path / "ops.json"
    A.new_openings(ACCOUNT, POLICY).save(ops)
    acct = tmp_path / "acct.json"
    acct.write_text(json.dumps(ACCOUNT))
    one_line(run("prove", acct, *venue_args(files), "-c", CH.hex(), "-a", old_att, "--openings", ops),
             2, "error:", "att.json", "'format'", "older attestation format")


def test_cli_verify_batch_with_subjects(files):
    proofs = [files["good.proof"], files["good2.proof"]]
    chals = ["-c", CH.hex(), "-c", CH2.hex()]
    r = run("verify-batch", *proofs, *venue_args(files), *chals, "--subject", "acct-1", "--subject", "acct-2",
            "--json")
    assert r.exit_code == 0, r.stderr
    assert [t["subject"] for t in json.loads(r.stdout)["trust"]] == ["acct-1", "acct-2"]
    one_line(run("verify-batch", *proofs, *venue_args(files), *chals, "--subject", "acct-2", "--subject", "acct-1"),
             1, "rejected:", "bundle 0", "another account")
    one_line(run("verify-batch", *proofs, *venue_args(files), *chals, "--subject", "a", "--subject", "b",
                 "--subject", "c"), 2, "usage error:", "--subject")
    one_line(run("verify-batch", *proofs, *venue_args(files), *chals, "--max-age", "nan", "--subject", "acct-1"),
             2, "--max-age")
    one_line(run("verify-batch", files["good.proof"], files["stale.proof"], *venue_args(files), "-c", CH.hex(),
                 "--subject", "acct-1"), 1, "rejected:", "bundle 1", "stale")
    one_line(run("verify-batch", files["good.proof"], files["plain.proof"], *venue_args(files), "-c", CH.hex(),
                 "--subject", "acct-1"), 1, "rejected:", "bundle 1", "self-declared")
    one_line(run("verify-batch", files["unchallenged.proof"], *venue_args(files, "base")), 1, "rejected:",
             "bundle 0", "answers no challenge")
    r = run("verify-batch", files["open.proof"], files["open.proof"], *venue_args(files, "open"), "--json")
    assert r.exit_code == 0, r.stderr  # twin: a venue that allows unchallenged, self-declared proofs
    assert [t["self_declared"] for t in json.loads(r.stdout)["trust"]] == [True, True]


def test_cli_inspect_shows_the_attestations_without_checking_them(files):
    r = run("inspect", files["good.proof"])
    assert r.exit_code == 0, r.stderr
    assert f"custodian {A.public_key_hex(KEY)[:16]}" in r.stdout and "'acct-1'" in r.stdout
    assert "not checked by inspect" in r.stdout
    doc = json.loads(run("inspect", files["good.proof"], "--json").stdout)
    assert doc["format"] == "zkmargin.proof/2" and doc["attestations"][0]["subject"] == "acct-1"
    r = run("inspect", files["plain.proof"])  # twin: no attestation, said in words
    assert "attestations: none (self-declared values)" in r.stdout
