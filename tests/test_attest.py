"""Custodian attestations: the right custodian, openings and proof pass; a wrong key, altered
attestation, openings re-used with other values, or a proof over other commitments is refused.
Several custodians: the per-slot sums pass; a missing, duplicated or altered share is refused."""

from __future__ import annotations

import copy
import json
import os
import stat
from importlib import resources

import pytest
from click.testing import CliRunner

import zkmargin
from zkmargin import attest as A
from zkmargin.errors import AttestationError, AttestationRejectedError, FormatError
from zkmargin.verifier.audit import audit
from zkmargin.verifier.log import VerificationLog, verify_and_log

DATA = resources.files("zkmargin.data")


def doc(name):
    return json.loads((DATA / name).read_text())


POLICY = doc("example_policy_cross.json")
MARKET = doc("example_market_cross.json")
ACCOUNT = doc("example_account_cross.json")
ISO_POLICY = doc("example_policy_isolated.json")
ISO_MARKET = doc("example_market_isolated.json")
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
    return {name: A.generate_private_key() for name in ("a", "b", "c")}


def pub(key):
    return A.public_key_hex(key)


@pytest.fixture(scope="module")
def single(keys):
    att, op = A.attest(ACCOUNT, None, POLICY, keys["a"])
    bundle = A.prove_attested(ACCOUNT, MARKET, POLICY, 0, CH, attestations=[att], openings=[op])
    return att, op, bundle


@pytest.fixture(scope="module")
def multi(keys):
    att_a, op_a = A.attest(SHARE_A, None, POLICY, keys["a"])
    att_b, op_b = A.attest(SHARE_B, None, POLICY, keys["b"])
    bundle = A.prove_attested(ACCOUNT, MARKET, POLICY, 0, CH, attestations=[att_a, att_b], openings=[op_a, op_b])
    return (att_a, op_a), (att_b, op_b), bundle


def verify(bundle, atts, custodians, **kw):
    return A.verify_attested(bundle, MARKET, POLICY, 0, CH, attestations=atts, custodian_keys=custodians, **kw)


# --- one custodian -------------------------------------------------------------------------------


def test_the_right_custodian_passes(single, keys):
    att, op, bundle = single
    res = verify(bundle, [att], [pub(keys["a"])])
    assert res.valid and res.extra["custodians"] == [pub(keys["a"])]
    assert bundle.commitments == att.commitments  # exactly the attested commitments
    assert att.slots == bundle.statement["slots"]
    # the documents round-trip through JSON and the signature covers the domain-separated message
    again = A.SignedCommitments.from_json_dict(json.loads(att.to_json()))
    assert again == att and again.signature_valid()
    assert again.message().startswith(b"zkmargin.attestation/1\0")
    assert A.Openings.from_json_dict(json.loads(op.to_json())) == op


def test_a_wrong_custodian_key_is_rejected(single, keys):
    att, _op, bundle = single
    with pytest.raises(AttestationRejectedError, match="not required"):
        verify(bundle, [att], [pub(keys["b"])])


def test_an_altered_attestation_is_rejected(single, keys):
    att, _op, bundle = single
    forged = copy.deepcopy(att)
    forged.commitments[0], forged.commitments[1] = forged.commitments[1], forged.commitments[0]
    with pytest.raises(AttestationRejectedError, match="signature does not verify"):
        verify(bundle, [forged], [pub(keys["a"])])
    # claiming another custodian's name without its key
    renamed = copy.deepcopy(att)
    renamed.custodian = pub(keys["b"])
    with pytest.raises(AttestationRejectedError, match="signature"):
        verify(bundle, [renamed], [pub(keys["b"])])


def test_a_proof_over_other_commitments_is_rejected(single, keys):
    att, op, _bundle = single
    plain = zkmargin.prove(ACCOUNT, MARKET, POLICY, 0, CH)  # fresh blindings: other commitments
    assert zkmargin.verify(plain, MARKET, POLICY, 0, CH).valid
    with pytest.raises(AttestationRejectedError, match="not the attested one"):
        verify(plain, [att], [pub(keys["a"])])


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
        verify(forced, [att], [pub(keys["a"])])


def test_stale_or_other_subject_attestations_are_rejected(keys, single):
    _att, _op, bundle = single
    old, _ = A.attest(ACCOUNT, None, POLICY, keys["a"], as_of="2020-01-01T00:00:00Z", subject="acct-1")
    # same values, other blindings: the proof is not about these commitments either way, so
    # check the age and subject rules first, on their own
    with pytest.raises(AttestationRejectedError, match="older than"):
        A.check_attestations(bundle, [old], [pub(keys["a"])], policy_digest=old.policy_digest, mode="cross",
                             max_age=3600)
    with pytest.raises(AttestationRejectedError, match="subject"):
        A.check_attestations(bundle, [old], [pub(keys["a"])], policy_digest=old.policy_digest, mode="cross",
                             subject="acct-2")


def test_malformed_documents(single):
    att, op, _ = single
    d = att.to_json_dict()
    d["extra"] = 1
    with pytest.raises(FormatError):
        A.SignedCommitments.from_json_dict(d)
    o = op.to_json_dict()
    o["values"][0] = "1.5"
    with pytest.raises(FormatError):
        A.Openings.from_json_dict(o)
    o = op.to_json_dict()
    o["blindings"][0] = "00" * 32
    with pytest.raises(FormatError):
        A.Openings.from_json_dict(o)


# --- several custodians --------------------------------------------------------------------------


def test_several_custodians_combined_pass(multi, keys):
    (att_a, _), (att_b, _), bundle = multi
    res = verify(bundle, [att_a, att_b], [pub(keys["a"]), pub(keys["b"])])
    assert sorted(res.extra["custodians"]) == sorted([pub(keys["a"]), pub(keys["b"])])
    # order of the attestations does not matter
    assert verify(bundle, [att_b, att_a], [pub(keys["b"]), pub(keys["a"])]).valid
    # each custodian's commitment differs from the proof's: only their sum matches
    i = bundle.statement["slots"].index("size:BTCUSDT")
    assert bundle.commitments[i] not in (att_a.commitments[i], att_b.commitments[i])


def test_a_missing_custodian_share_is_rejected(multi, keys):
    (att_a, _), (att_b, _), bundle = multi
    with pytest.raises(AttestationRejectedError, match="no attestation from required custodian"):
        verify(bundle, [att_a], [pub(keys["a"]), pub(keys["b"])])
    # the venue only asks for A: A's share alone is not what the proof commits to
    with pytest.raises(AttestationRejectedError, match="not the attested one"):
        verify(bundle, [att_a], [pub(keys["a"])])
    # and the prover cannot leave a share out either
    _, op_a = multi[0]
    with pytest.raises(AttestationError, match="differs from the account"):
        A.prove_attested(ACCOUNT, MARKET, POLICY, 0, CH, attestations=[att_a], openings=[op_a])


def test_an_altered_or_duplicated_share_is_rejected(multi, keys):
    (att_a, _), (att_b, op_b), bundle = multi
    altered = copy.deepcopy(att_b)
    altered.commitments[0] = att_a.commitments[0]
    with pytest.raises(AttestationRejectedError, match="signature does not verify"):
        verify(bundle, [att_a, altered], [pub(keys["a"]), pub(keys["b"])])
    # B's share re-signed by a custodian the venue did not ask for
    resigned, _ = A.attest(SHARE_B, None, POLICY, keys["c"])
    with pytest.raises(AttestationRejectedError, match="not required"):
        verify(bundle, [att_a, resigned], [pub(keys["a"]), pub(keys["b"])])
    # one share counted twice
    with pytest.raises(AttestationRejectedError, match="attested twice"):
        verify(bundle, [att_a, att_a], [pub(keys["a"])])
    # B's share with other values: the sum no longer matches
    other_b, _ = A.attest(SHARE_A, None, POLICY, keys["b"])
    with pytest.raises(AttestationRejectedError, match="not the sum of the attested ones"):
        verify(bundle, [att_a, other_b], [pub(keys["a"]), pub(keys["b"])])


def test_custodians_attesting_subsets_of_the_slots(keys):
    a_slots = ["size:BTCUSDT", "cost", "balance:USDT", "balance:BTC"]
    b_slots = ["size:BTCUSDT", "size:ETHUSDT", "size:SOLUSDT", "cost", "balance:USDT", "balance:ETH"]
    att_a, op_a = A.attest(SHARE_A, None, POLICY, keys["a"], slots=a_slots)
    att_b, op_b = A.attest(SHARE_B, None, POLICY, keys["b"], slots=b_slots)
    bundle = A.prove_attested(ACCOUNT, MARKET, POLICY, 0, CH, attestations=[att_a, att_b], openings=[op_a, op_b])
    assert verify(bundle, [att_a, att_b], [pub(keys["a"]), pub(keys["b"])]).valid
    # a slot nobody attests is refused on both sides
    att_b2, op_b2 = A.attest(SHARE_B, None, POLICY, keys["b"], slots=b_slots[:-1])
    with pytest.raises(AttestationError, match=r"\['balance:ETH'\] are attested by no custodian"):
        A.combine([att_a, att_b2], [op_a, op_b2], POLICY)
    with pytest.raises(AttestationRejectedError, match="attested by no custodian"):
        verify(bundle, [att_a, att_b2], [pub(keys["a"]), pub(keys["b"])])


def test_isolated_positions_come_from_one_custodian(keys):
    iso_a = account({"USDT": "3000"}, [("BTCUSDT", "0.5", "66000.00")], {"BTCUSDT": "3500"})
    iso_b = account({"USDT": "2000"}, [("ETHUSDT", "-5", "3500.00")], {"ETHUSDT": "1800"})
    a_slots = [s for s in ("size", "entry", "isolated") for s in (f"{s}:BTCUSDT", f"{s}:SOLUSDT")]
    a_slots += ["balance:USDT", "balance:BTC", "balance:ETH"]
    b_slots = ["size:ETHUSDT", "entry:ETHUSDT", "isolated:ETHUSDT", "balance:USDT"]
    att_a, op_a = A.attest(iso_a, None, ISO_POLICY, keys["a"], slots=a_slots)
    att_b, op_b = A.attest(iso_b, None, ISO_POLICY, keys["b"], slots=b_slots)
    bundle = A.prove_attested(ISO_ACCOUNT, ISO_MARKET, ISO_POLICY, 0, CH, attestations=[att_a, att_b],
                              openings=[op_a, op_b])
    assert A.verify_attested(bundle, ISO_MARKET, ISO_POLICY, 0, CH, attestations=[att_a, att_b],
                             custodian_keys=[pub(keys["a"]), pub(keys["b"])]).valid
    # both custodians attesting every slot would sum entry prices: refused
    full_a, fop_a = A.attest(iso_a, None, ISO_POLICY, keys["a"])
    full_b, fop_b = A.attest(iso_b, None, ISO_POLICY, keys["b"])
    with pytest.raises(AttestationError, match="several custodians"):
        A.combine([full_a, full_b], [fop_a, fop_b], ISO_POLICY)
    with pytest.raises(AttestationRejectedError, match="several custodians"):
        A.check_attestations(bundle, [full_a, full_b], [pub(keys["a"]), pub(keys["b"])],
                             policy_digest=full_a.policy_digest, mode="isolated")


# --- logged and audited ----------------------------------------------------------------------------


def test_attested_verifications_are_logged_and_audited(tmp_path, multi, keys):
    (att_a, _), (att_b, _), bundle = multi
    path = tmp_path / "att.log"
    venue = A.generate_private_key()
    custodians = [pub(keys["a"]), pub(keys["b"])]
    # rejections first: they do not use up the challenge (an accepted one would: a replay)
    with pytest.raises(AttestationRejectedError):
        verify_and_log(bundle, MARKET, POLICY, 0, CH, log=path, log_key=venue, attestations=[att_a],
                       custodian_keys=custodians)
    with pytest.raises(AttestationRejectedError, match="malformed attestation"):
        verify_and_log(bundle, MARKET, POLICY, 0, CH, log=path, log_key=venue, attestations=[{"format": "junk"}],
                       custodian_keys=custodians)
    res = verify_and_log(bundle, MARKET, POLICY, 0, CH, log=path, log_key=venue, attestations=[att_a, att_b],
                         custodian_keys=custodians)
    assert res.extra["log"]["result"] == "accepted" and res.extra["receipt"]["entry"]["attestations_hash"]
    r = audit(path, venue_key=A.public_key_hex(venue))
    assert r.clean, r.problems()
    assert (r.accepted, r.rejected) == (1, 2)
    with VerificationLog(path) as log:
        row = log.entries_by_id([3])[0]
    stored = json.loads(row.attestations)
    assert stored["custodian_keys"] == custodians and len(stored["attestations"]) == 2


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
                              "--openings", str(ops), "--subject", "acct-7"])
    assert res.exit_code == 0, res.output
    assert stat.S_IMODE(os.stat(ops).st_mode) == 0o600
    loaded = A.SignedCommitments.load(att)
    assert loaded.custodian == public and loaded.subject == "acct-7" and loaded.signature_valid()
    assert "values" not in json.loads(att.read_text())  # nothing private in the public half
    assert A.Openings.load(ops).slots == loaded.slots
    # a wrong key file is an input error (exit 2), not a crash
    bad = tmp_path / "bad.pem"
    bad.write_text("nope")
    res = runner.invoke(cli, ["attest", str(acct), "-p", str(pol), "-k", str(bad), "-o", str(att),
                              "--openings", str(ops)])
    assert res.exit_code == 2


def test_workflow_options_for_prove_and_verify(tmp_path, multi, keys):
    """The options and functions commands_core's prove/verify use for --attestation, --openings,
    --custodian-key and --log (composed here into stand-alone commands)."""
    import click

    from zkmargin.cli import commands_workflows as W

    @click.command()
    @click.argument("proof")
    @W.log_option
    @W.custody_options
    def verify_cmd(proof, log, log_key, custodian_keys, attestations, max_age):
        res = W.run_verify(proof, MARKET, POLICY, 0, CH, log=log, log_key=log_key, custodian_keys=custodian_keys,
                           attestations=attestations, max_age=max_age)
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
    args = [str(proof), "--log", str(log), "--log-key", str(venue), "--custodian-key", pub(keys["a"]),
            "--custodian-key", pub(keys["b"]), "--attestation", str(files["att_a"]), "--attestation", str(files["att_b"])]
    res = runner.invoke(verify_cmd, args[:-2])  # B's attestation left out
    assert isinstance(res.exception, AttestationRejectedError)
    res = runner.invoke(verify_cmd, args)
    assert res.exit_code == 0, res.output
    assert json.loads(res.stdout)["log"]["id"] == 2
    assert audit(log).entries == 2
