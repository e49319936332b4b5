"""Custodian attestations: the right custodian, openings and proof pass; an unlisted key, an
altered attestation, openings re-used with other values, or a proof over other commitments is
refused. Several custodians: the per-slot sums pass; a missing, duplicated or altered share is
refused. (The venue's trust rule — freshness, audience, subject, challenge, self-declared values —
has its own tests in tests/test_trust.py.)"""

from __future__ import annotations

import copy
import json
import os
import stat
from datetime import UTC, datetime
from importlib import resources

import pytest
from click.testing import CliRunner

import zkmargin
from zkmargin.api import _verify_bare
from zkmargin.errors import AttestationError, AttestationRejectedError, FormatError
from zkmargin.verifier.audit import audit
from zkmargin.verifier.log import VerificationLog, verify_and_log
from zkmargin.workflows import custodian as A

DATA = resources.files("zkmargin.data")


def doc(name):
    return json.loads((DATA / name).read_text())


KEYS = {name: A.generate_private_key() for name in ("a", "b", "c")}
NOW = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
SUBJECT = "acct-1"


def venue(policy, *names, **trust):
    """The policy with a trust section listing the custodians ``names`` (fresh for an hour)."""
    listed = [{"name": f"custodian-{n}", "key": A.public_key_hex(KEYS[n])} for n in names]
    return {**policy, "trust": {"custodians": listed, "max_age_seconds": 3600, **trust}}


BASE_POLICY = doc("example_policy_cross.json")
POLICY = venue(BASE_POLICY, "a", "b")  # accepts custodians a and b
MARKET = {**doc("example_market_cross.json"), "as_of": NOW}  # the venue's current snapshot
ACCOUNT = doc("example_account_cross.json")
ISO_POLICY = venue(doc("example_policy_isolated.json"), "a", "b")
ISO_MARKET = {**doc("example_market_isolated.json"), "as_of": NOW}
ISO_ACCOUNT = doc("example_account_isolated.json")
CH = b"\x42" * 32


def account(balances, positions, iso=None):
    return {"format": "zkmargin.account/1", "balances": balances,
            "positions": [{"symbol": s, "size": q, "entry_price": e} for s, q, e in positions],
            "isolated_margin": iso or {}}


# The example cross account split over two custodians: 3 BTCUSDT @ 65120.50 is 2 @ 65000.00 at A
# and 1 @ 65361.50 at B (same cost basis), balances split as well.
SHARE_A = account({"USDT": "12000", "BTC": "0.15"}, [("BTCUSDT", "2", "65000.00")])
SHARE_B = account({"USDT": "8000", "ETH": "2.5"},
                  [("BTCUSDT", "1", "65361.50"), ("ETHUSDT", "-40", "3555.20"), ("SOLUSDT", "800", "148.90")])


@pytest.fixture(scope="module")
def keys():
    return KEYS


def pub(key):
    return A.public_key_hex(key)


def attest(acct, policy, key, **kw):
    return A.attest(acct, None, policy, key, subject=kw.pop("subject", SUBJECT), **kw)


@pytest.fixture(scope="module")
def single(keys):
    att, op = attest(ACCOUNT, POLICY, keys["a"])
    bundle = A.prove_attested(ACCOUNT, MARKET, POLICY, 0, CH, attestations=[att], openings=[op])
    return att, op, bundle


@pytest.fixture(scope="module")
def multi(keys):
    att_a, op_a = attest(SHARE_A, POLICY, keys["a"])
    att_b, op_b = attest(SHARE_B, POLICY, keys["b"])
    bundle = A.prove_attested(ACCOUNT, MARKET, POLICY, 0, CH, attestations=[att_a, att_b], openings=[op_a, op_b])
    return (att_a, op_a), (att_b, op_b), bundle


def with_attestations(bundle, atts):
    """The same proof carrying other attestations (what a trader could send)."""
    return zkmargin.ProofBundle(dict(bundle.statement), list(bundle.commitments), bundle.proof, list(atts))


def verify(bundle, atts=None, policy=POLICY, **kw):
    if atts is not None:
        bundle = with_attestations(bundle, atts)
    return zkmargin.verify(bundle, MARKET, policy, 0, CH, subject=kw.pop("subject", SUBJECT), **kw)


# --- one custodian -------------------------------------------------------------------------------


def test_the_right_custodian_passes(single, keys):
    att, op, bundle = single
    res = verify(bundle)
    trust = res.extra["trust"]
    assert [c["key"] for c in trust["custodians"]] == [pub(keys["a"])]
    assert trust["custodians"][0]["name"] == "custodian-a" and trust["self_declared"] is False
    assert bundle.commitments == att.commitments  # exactly the attested commitments
    assert att.slots == bundle.statement["slots"] and bundle.attestations == [att]
    assert att.audience == BASE_POLICY["venue"] and att.subject == SUBJECT
    # the documents round-trip through JSON and the signature covers the domain-separated message
    again = A.SignedCommitments.from_json_dict(json.loads(att.to_json()))
    assert again == att and again.signature_valid()
    assert again.message().startswith(b"zkmargin.attestation/2\0")
    assert A.Openings.from_json_dict(json.loads(op.to_json())) == op
    # the bundle carries the attestation through its JSON form
    assert zkmargin.ProofBundle.from_json(bundle.to_json()).attestations == [att]


def test_an_unlisted_custodian_is_rejected(single, keys):
    """A proof over commitments that a custodian the policy does not list signed (the twin, the
    same over a listed custodian's, passes in test_the_right_custodian_passes)."""
    att, op = attest(ACCOUNT, POLICY, keys["c"])
    bundle = A.prove_attested(ACCOUNT, MARKET, POLICY, 0, CH, attestations=[att], openings=[op])
    with pytest.raises(AttestationRejectedError, match="does not list"):
        verify(bundle)


def test_an_altered_attestation_is_rejected(single, keys):
    att, _op, bundle = single
    forged = copy.deepcopy(att)
    forged.commitments[0], forged.commitments[1] = forged.commitments[1], forged.commitments[0]
    with pytest.raises(AttestationRejectedError, match="signature does not verify"):
        verify(bundle, [forged])
    # claiming another listed custodian's name without its key
    renamed = copy.deepcopy(att)
    renamed.custodian = pub(keys["b"])
    with pytest.raises(AttestationRejectedError, match="signature"):
        verify(bundle, [renamed])
    # the subject edited after signing
    moved = copy.deepcopy(att)
    moved.subject = "acct-2"
    with pytest.raises(AttestationRejectedError, match="signature"):
        verify(bundle, [moved], subject="acct-2")


def test_a_proof_over_other_commitments_is_rejected(single, keys):
    att, op, _bundle = single
    plain = zkmargin.prove(ACCOUNT, MARKET, POLICY, 0, CH)  # fresh blindings: other commitments
    assert _verify_bare(plain, MARKET, POLICY, 0, CH).valid
    with pytest.raises(AttestationRejectedError, match="not the attested one"):
        verify(plain, [att])


def test_the_attested_commitments_with_other_openings_are_refused(single):
    """Re-using an attestation with openings of other values (a richer account) is refused by the
    prover; a prover forced to use the attested blindings anyway gets other commitments."""
    att, op, _bundle = single
    richer = copy.deepcopy(op)
    i = richer.slots.index("balance:USDT")
    richer.values[i] += 10**12
    with pytest.raises(AttestationError, match="do not match the attested commitment for slot 'balance:USDT'"):
        A.prove_attested(ACCOUNT, MARKET, POLICY, 0, CH, attestations=[att], openings=[richer])
    other_blinding = copy.deepcopy(op)
    other_blinding.blindings[0] = (other_blinding.blindings[0] + 1)
    with pytest.raises(AttestationError, match="do not match"):
        A.prove_attested(ACCOUNT, MARKET, POLICY, 0, CH, attestations=[att], openings=[other_blinding])


def test_openings_must_match_the_account(single, keys):
    att, op, _bundle = single
    richer = copy.deepcopy(ACCOUNT)
    richer["balances"]["USDT"] = "90000"
    with pytest.raises(AttestationError, match="slot 'balance:USDT' differs from the account"):
        A.prove_attested(richer, MARKET, POLICY, 0, CH, attestations=[att], openings=[op])
    # forced: the attested blindings with another account's values -> other commitments -> rejected
    forced = zkmargin.prove(richer, MARKET, POLICY, 0, CH, blindings=op.blindings)
    assert forced.commitments != att.commitments
    with pytest.raises(AttestationRejectedError):
        verify(forced, [att])


def test_malformed_documents(single):
    att, op, _ = single
    d = att.to_json_dict()
    d["extra"] = 1
    with pytest.raises(FormatError, match="unknown field"):
        A.SignedCommitments.from_json_dict(d)
    for key, value, needle in (("subject", None, "subject"), ("subject", "", "subject"),
                               ("audience", 7, "audience"), ("challenge", "AB" * 32, "challenge"),
                               ("challenge", "ab", "challenge"), ("as_of", "yesterday", "as_of"),
                               ("as_of", "2024-06-03T08:00:00", "as_of"), ("nonce", "0 1", "nonce"),
                               ("custodian", "ab" * 31, "custodian"), ("format", "zkmargin.attestation/1", "older")):
        d = att.to_json_dict()
        d[key] = value
        with pytest.raises(FormatError, match=needle):
            A.SignedCommitments.from_json_dict(d)
    d = att.to_json_dict()
    del d["subject"]
    with pytest.raises(FormatError, match="missing field"):
        A.SignedCommitments.from_json_dict(d)
    assert A.SignedCommitments.from_json_dict(att.to_json_dict()) == att  # the untouched twin
    o = op.to_json_dict()
    o["values"][0] = "1.5"
    with pytest.raises(FormatError):
        A.Openings.from_json_dict(o)
    o = op.to_json_dict()
    o["blindings"][0] = "00" * 32
    with pytest.raises(FormatError):
        A.Openings.from_json_dict(o)


def test_attest_needs_a_subject_and_the_prover_checks_venue_and_challenge(keys):
    from zkmargin.errors import InputError

    for bad in (None, "", "  "):
        with pytest.raises(InputError, match="subject"):
            A.attest(ACCOUNT, None, POLICY, keys["a"], subject=bad)
    other_venue = {**POLICY, "venue": "another-venue"}
    att, op = attest(ACCOUNT, other_venue, keys["a"])
    with pytest.raises(AttestationError, match="another venue|another policy"):
        A.prove_attested(ACCOUNT, MARKET, POLICY, 0, CH, attestations=[att], openings=[op])
    att, op = attest(ACCOUNT, POLICY, keys["a"], challenge=b"\x01" * 32)
    with pytest.raises(AttestationError, match="another challenge"):
        A.prove_attested(ACCOUNT, MARKET, POLICY, 0, CH, attestations=[att], openings=[op])
    bundle = A.prove_attested(ACCOUNT, MARKET, POLICY, 0, b"\x01" * 32, attestations=[att], openings=[op])
    assert bundle.attestations[0].challenge == "01" * 32  # the twin: its own challenge


# --- several custodians --------------------------------------------------------------------------


def test_several_custodians_combined_pass(multi, keys):
    (att_a, _), (att_b, _), bundle = multi
    res = verify(bundle)
    assert sorted(c["key"] for c in res.extra["trust"]["custodians"]) == sorted([pub(keys["a"]), pub(keys["b"])])
    # order of the attestations does not matter
    assert verify(bundle, [att_b, att_a]).valid
    # each custodian's commitment differs from the proof's: only their sum matches
    i = bundle.statement["slots"].index("size:BTCUSDT")
    assert bundle.commitments[i] not in (att_a.commitments[i], att_b.commitments[i])


def test_a_missing_custodian_share_is_rejected(multi, keys):
    (att_a, _), (att_b, _), bundle = multi
    # A's share alone is not what the proof commits to
    with pytest.raises(AttestationRejectedError, match="not the attested one"):
        verify(bundle, [att_a])
    # and the prover cannot leave a share out either
    _, op_a = multi[0]
    with pytest.raises(AttestationError, match="differs from the account"):
        A.prove_attested(ACCOUNT, MARKET, POLICY, 0, CH, attestations=[att_a], openings=[op_a])


def test_an_altered_or_duplicated_share_is_rejected(multi, keys):
    (att_a, _), (att_b, op_b), bundle = multi
    altered = copy.deepcopy(att_b)
    altered.commitments[0] = att_a.commitments[0]
    with pytest.raises(AttestationRejectedError, match="signature does not verify"):
        verify(bundle, [att_a, altered])
    # B's share re-signed by a custodian the venue does not list
    resigned, _ = attest(SHARE_B, POLICY, keys["c"])
    with pytest.raises(AttestationRejectedError, match="does not list"):
        verify(bundle, [att_a, resigned])
    # one share counted twice
    with pytest.raises(AttestationRejectedError, match="attested twice"):
        verify(bundle, [att_a, att_a])
    # B's share with other values: the sum no longer matches
    other_b, _ = attest(SHARE_A, POLICY, keys["b"])
    with pytest.raises(AttestationRejectedError, match="not the sum of the attested ones"):
        verify(bundle, [att_a, other_b])


def test_custodians_attesting_subsets_of_the_slots(keys):
    a_slots = ["size:BTCUSDT", "cost", "balance:USDT", "balance:BTC"]
    b_slots = ["size:BTCUSDT", "size:ETHUSDT", "size:SOLUSDT", "cost", "balance:USDT", "balance:ETH"]
    att_a, op_a = attest(SHARE_A, POLICY, keys["a"], slots=a_slots)
    att_b, op_b = attest(SHARE_B, POLICY, keys["b"], slots=b_slots)
    bundle = A.prove_attested(ACCOUNT, MARKET, POLICY, 0, CH, attestations=[att_a, att_b], openings=[op_a, op_b])
    assert verify(bundle).valid
    # a slot nobody attests is refused on both sides
    att_b2, op_b2 = attest(SHARE_B, POLICY, keys["b"], slots=b_slots[:-1])
    with pytest.raises(AttestationError, match=r"\['balance:ETH'\] are attested by no custodian"):
        A.combine([att_a, att_b2], [op_a, op_b2], POLICY)
    with pytest.raises(AttestationRejectedError, match="attested by no custodian"):
        verify(bundle, [att_a, att_b2])


def test_isolated_positions_come_from_one_custodian(keys):
    iso_a = account({"USDT": "3000"}, [("BTCUSDT", "0.5", "66000.00")], {"BTCUSDT": "3500"})
    iso_b = account({"USDT": "2000"}, [("ETHUSDT", "-5", "3500.00")], {"ETHUSDT": "1800"})
    a_slots = [s for s in ("size", "entry", "isolated") for s in (f"{s}:BTCUSDT", f"{s}:SOLUSDT")]
    a_slots += ["balance:USDT", "balance:BTC", "balance:ETH"]
    b_slots = ["size:ETHUSDT", "entry:ETHUSDT", "isolated:ETHUSDT", "balance:USDT"]
    att_a, op_a = attest(iso_a, ISO_POLICY, keys["a"], slots=a_slots)
    att_b, op_b = attest(iso_b, ISO_POLICY, keys["b"], slots=b_slots)
    bundle = A.prove_attested(ISO_ACCOUNT, ISO_MARKET, ISO_POLICY, 0, CH, attestations=[att_a, att_b],
                              openings=[op_a, op_b])
    assert zkmargin.verify(bundle, ISO_MARKET, ISO_POLICY, 0, CH, subject=SUBJECT).valid
    # both custodians attesting every slot would sum entry prices: refused
    full_a, fop_a = attest(iso_a, ISO_POLICY, keys["a"])
    full_b, fop_b = attest(iso_b, ISO_POLICY, keys["b"])
    with pytest.raises(AttestationError, match="several custodians"):
        A.combine([full_a, full_b], [fop_a, fop_b], ISO_POLICY)
    with pytest.raises(AttestationRejectedError, match="several custodians"):
        zkmargin.verify(with_attestations(bundle, [full_a, full_b]), ISO_MARKET, ISO_POLICY, 0, CH,
                        subject=SUBJECT)


# --- logged and audited ----------------------------------------------------------------------------


def test_attested_verifications_are_logged_and_audited(tmp_path, multi, keys):
    (att_a, _), (att_b, _), bundle = multi
    path = tmp_path / "att.log"
    venue = A.generate_private_key()
    # rejections first: they do not use up the challenge (an accepted one would: a replay)
    with pytest.raises(AttestationRejectedError):
        verify_and_log(with_attestations(bundle, [att_a]), MARKET, POLICY, 0, CH, log=path, log_key=venue,
                       subject=SUBJECT)
    bad = bundle.to_json_dict()
    bad["attestations"] = [{"format": "junk"}]
    with pytest.raises(FormatError, match="attestations\\[0\\].format"):
        verify_and_log(bad, MARKET, POLICY, 0, CH, log=path, log_key=venue, subject=SUBJECT)
    res = verify_and_log(bundle, MARKET, POLICY, 0, CH, log=path, log_key=venue, subject=SUBJECT)
    assert res.extra["log"]["result"] == "accepted" and not res.extra["trust"]["self_declared"]
    r = audit(path, venue_key=A.public_key_hex(venue))
    assert r.clean, r.problems()
    assert (r.accepted, r.rejected) == (1, 2)
    with VerificationLog(path) as log:
        row = log.entries_by_id([3])[0]
    stored = json.loads(row.bundle)  # the bundle as logged carries its attestations
    assert [a["custodian"] for a in stored["attestations"]] == [pub(keys["a"]), pub(keys["b"])]


# --- files and the command line ------------------------------------------------------------------


def test_cli_keygen_attest_and_private_files(tmp_path, keys):
    from zkmargin.cli.main import cli

    runner = CliRunner()
    key = tmp_path / "custodian.pem"
    res = runner.invoke(cli, ["custodian-keygen", "-o", str(key)])
    assert res.exit_code == 0, res.output
    public = res.stdout.strip()
    assert len(public) == 64 and A.key_id(public) == public
    assert stat.S_IMODE(os.stat(key).st_mode) == 0o600
    assert runner.invoke(cli, ["custodian-keygen", "-o", str(key)]).exit_code == 2  # no silent overwrite
    acct = tmp_path / "account.json"
    acct.write_text(json.dumps(ACCOUNT))
    pol = tmp_path / "policy.json"
    pol.write_text(json.dumps(POLICY))
    att, ops = tmp_path / "att.json", tmp_path / "openings.json"
    res = runner.invoke(cli, ["attest", str(acct), "-p", str(pol), "-k", str(key), "-o", str(att),
                              "--openings", str(ops), "--subject", "acct-7", "--challenge", "ab" * 32])
    assert res.exit_code == 0, res.output
    assert stat.S_IMODE(os.stat(ops).st_mode) == 0o600
    loaded = A.SignedCommitments.load(att)
    assert loaded.custodian == public and loaded.subject == "acct-7" and loaded.signature_valid()
    assert loaded.audience == POLICY["venue"] and loaded.challenge == "ab" * 32
    assert "values" not in json.loads(att.read_text())  # nothing private in the public half
    assert A.Openings.load(ops).slots == loaded.slots
    # without --subject: a usage error (exit 2), nothing written
    att2 = tmp_path / "att2.json"
    res = runner.invoke(cli, ["attest", str(acct), "-p", str(pol), "-k", str(key), "-o", str(att2),
                              "--openings", str(tmp_path / "op2.json")])
    assert res.exit_code == 2 and "--subject" in res.stderr and not att2.exists()
    # a wrong key file is an input error (exit 2), not a crash
    bad = tmp_path / "bad.pem"
    bad.write_text("nope")
    res = runner.invoke(cli, ["attest", str(acct), "-p", str(pol), "-k", str(bad), "-o", str(att),
                              "--openings", str(ops), "--subject", "acct-7"])
    assert res.exit_code == 2


def test_workflow_options_for_prove_and_verify(tmp_path, multi, keys):
    """The options and functions commands_core's prove/verify use for --attestation, --openings,
    --subject, --max-age and --log (composed here into stand-alone commands)."""
    import click

    from zkmargin.cli import workflow_options as W

    @click.command()
    @click.argument("proof")
    @W.log_option
    @W.trust_options
    def verify_cmd(proof, log, log_key, subject, max_age):
        res = W.run_verify(proof, MARKET, POLICY, 0, CH, log=log, log_key=log_key, subject=subject, max_age=max_age)
        click.echo(json.dumps(res.extra, default=str))

    @click.command()
    @W.openings_options
    @click.option("-o", "out")
    def prove_cmd(attestations, openings, out):
        W.run_prove(ACCOUNT, MARKET, POLICY, 0, CH, attestations=attestations, openings=openings).save(out)

    (att_a, op_a), (att_b, op_b), _bundle = multi
    files = {}
    for name, d in (("att_a", att_a), ("att_b", att_b), ("op_a", op_a), ("op_b", op_b)):
        files[name] = tmp_path / f"{name}.json"
        d.save(files[name])
    proof = tmp_path / "proof.json"
    runner = CliRunner()
    res = runner.invoke(prove_cmd, ["--attestation", files["att_a"], "--openings", files["op_a"],
                                    "--attestation", files["att_b"], "--openings", files["op_b"], "-o", proof])
    assert res.exit_code == 0, res.output
    log = tmp_path / "v.log"
    venue = tmp_path / "venue.pem"
    A.new_key_file(venue)
    base = [str(proof), "--log", str(log), "--log-key", str(venue)]
    # another account first: a refusal does not use the challenge up
    res = runner.invoke(verify_cmd, base + ["--subject", "acct-2"])
    assert isinstance(res.exception, AttestationRejectedError)
    res = runner.invoke(verify_cmd, base + ["--subject", SUBJECT, "--max-age", "600"])
    assert res.exit_code == 0, res.output
    out = json.loads(res.stdout)
    assert out["log"]["id"] == 2 and len(out["trust"]["custodians"]) == 2
    assert audit(log).entries == 2
