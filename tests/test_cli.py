"""The command line, in process (click's CliRunner): every command, every exit code, one-line errors.

Each "it works" test has a twin showing the failure it guards against. Proofs are expensive
(about a second each), so one proof made through the CLI is shared by the module."""

from __future__ import annotations

import io
import json
import os
from decimal import Decimal
from importlib.resources import files
from pathlib import Path

import pytest
from click.testing import CliRunner

import zkmargin
import zkmargin.files.atomic
from zkmargin.cli import commands_core, output
from zkmargin.cli.main import cli
from zkmargin.rules.models import dump_document
from zkmargin.workflows.bench import BenchReport, BenchRow
from zkmargin.workflows.demo import example, shrink_balances

DATA = files("zkmargin.data")
POLICY = str(DATA / "example_policy_cross.json")
MARKET = str(DATA / "example_market_cross.json")
ACCOUNT = str(DATA / "example_account_cross.json")
VENUE = ["--market", MARKET, "--policy", POLICY]
THRESHOLD = "1000"
CHALLENGE = "a5" * 32


def run(args, *, env=None, catch=False):
    return CliRunner().invoke(cli, args, env=env, catch_exceptions=catch)


def no_traceback(result) -> None:
    assert "Traceback" not in result.stdout
    assert "Traceback" not in result.stderr
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception


def one_line_error(result, code: int, *needles: str) -> str:
    """Exit ``code``, exactly one non-empty stderr line containing every needle, no traceback."""
    assert result.exit_code == code, (result.exit_code, result.stdout, result.stderr)
    no_traceback(result)
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    for n in needles:
        assert n in lines[0], (n, lines[0])
    return lines[0]


def one_json(result) -> dict:
    """stdout is exactly one JSON document (json.loads refuses trailing data)."""
    return json.loads(result.stdout)


def write_json(path: Path, doc) -> str:
    path.write_text(json.dumps(doc, indent=2))
    return str(path)


@pytest.fixture(scope="module")
def docs():
    pol, mkt, acct = example("cross")
    return {
        "policy": json.loads(Path(POLICY).read_text()),
        "market": json.loads(Path(MARKET).read_text()),
        "account": json.loads(Path(ACCOUNT).read_text()),
        "thin": dump_document(shrink_balances(acct, pol)),
    }


@pytest.fixture(scope="module")
def thin_account(docs, tmp_path_factory) -> str:
    return write_json(tmp_path_factory.mktemp("thin") / "thin.json", docs["thin"])


@pytest.fixture(scope="module")
def proof(tmp_path_factory) -> str:
    """One proof made through `zkmargin prove -o` (threshold 1000, challenge a5…a5)."""
    out = tmp_path_factory.mktemp("proof") / "proof.json"
    r = run(["prove", ACCOUNT, *VENUE, "--threshold", THRESHOLD, "--challenge", CHALLENGE,
             "-o", str(out)])
    assert r.exit_code == 0, r.stderr
    assert r.stdout == ""  # the bundle went to the file
    assert r.stderr.startswith("proved: ") and len(r.stderr.splitlines()) == 1
    return str(out)


def verify_args(path, threshold=THRESHOLD, challenge=CHALLENGE, *extra):
    args = ["verify", str(path), *VENUE, "--threshold", threshold]
    if challenge is not None:
        args += ["--challenge", challenge]
    return args + list(extra)


# --- the group ------------------------------------------------------------------------------------


def test_help_lists_every_command():
    r = run(["--help"])
    assert r.exit_code == 0
    for name in ("demo", "check", "prove", "verify", "verify-batch", "challenge", "inspect",
                 "bench"):
        assert f"  {name} " in r.stdout
    assert "Exit codes" in r.stdout


def test_no_arguments_shows_help_and_exits_2():
    r = run([])
    assert r.exit_code == 2
    assert "Usage:" in r.stderr + r.stdout


def test_version():
    r = run(["--version"])
    assert r.exit_code == 0 and zkmargin.__version__ in r.stdout


@pytest.mark.parametrize("args, needle", [
    (["frobnicate"], "No such command"),
    (["check"], "Missing argument 'ACCOUNT'"),
    (["check", "a.json", "--policy", "p.json"], "Missing option '--market'"),
    (["verify", "p.json", "--market", "m", "--policy", "p", "--bogus"], "No such option"),
    (["--backend", "nope", "challenge"], "'nope' is not one of"),
])
def test_usage_errors_exit_2_with_one_line(args, needle):
    line = one_line_error(run(args), 2, needle)
    assert "zkmargin" in line and "--help" in line


def test_challenge_is_32_fresh_bytes_of_hex():
    a, b = run(["challenge"]), run(["challenge"])
    assert a.exit_code == b.exit_code == 0
    ha, hb = a.stdout.strip(), b.stdout.strip()
    assert len(bytes.fromhex(ha)) == 32 and ha == ha.lower()
    assert ha != hb  # twin: a constant would pass the length check


# --- check ----------------------------------------------------------------------------------------


def test_check_meets_exits_0():
    r = run(["check", ACCOUNT, *VENUE])
    assert r.exit_code == 0 and r.stderr == ""
    assert "MEETS the requirement" in r.stdout and "BTCUSDT" in r.stdout


def test_check_below_requirement_exits_1(thin_account):
    r = run(["check", thin_account, *VENUE, "--threshold", "10000"])
    one_line_error(r, 1, "rejected:", "does not meet")
    assert "does NOT meet the requirement" in r.stdout


def test_check_json_is_one_document():
    r = run(["check", ACCOUNT, *VENUE, "--json"])
    assert r.exit_code == 0
    doc = one_json(r)
    assert doc["meets"] is True and doc["mode"] == "cross"
    assert doc == zkmargin.check(ACCOUNT, MARKET, POLICY).to_json_dict()


def test_check_json_below_requirement_still_one_document_exit_1(thin_account):
    r = run(["check", thin_account, *VENUE, "--threshold", "10000", "--json"])
    assert r.exit_code == 1
    doc = one_json(r)
    assert doc["meets"] is False and Decimal(doc["excess"]) < 0


def test_check_threshold_decides():
    excess = zkmargin.check(ACCOUNT, MARKET, POLICY).excess
    assert excess > 0
    at = str(excess.quantize(Decimal("0.00000001")))  # the amount scale of the example policy
    assert run(["check", ACCOUNT, *VENUE, "--threshold", at]).exit_code == 0
    above = str(excess.quantize(Decimal("0.00000001")) + Decimal("0.00000001"))
    assert run(["check", ACCOUNT, *VENUE, "--threshold", above]).exit_code == 1


@pytest.mark.parametrize("threshold, needle", [
    ("abc", "threshold"),
    ("-5", "threshold"),
    ("0.000000001", "threshold"),  # the example policy's amount scale is 8
])
def test_check_bad_threshold_exits_2(threshold, needle):
    one_line_error(run(["check", ACCOUNT, *VENUE, "--threshold", threshold]), 2, "error:", needle)


def _bad_inputs(docs, tmp: Path):
    """(name, argv, code, needles): malformed files and what the error line must name."""
    acct, mkt = docs["account"], docs["market"]
    cases = []
    p = tmp / "malformed.json"
    p.write_text('{"format": "zkmargin.account/1", "balances": {')
    cases.append(("malformed JSON", ["check", str(p), *VENUE], ["malformed.json", "JSON"]))
    p = tmp / "empty.json"
    p.write_text("")
    cases.append(("empty file", ["check", str(p), *VENUE], ["empty.json"]))
    wrong = dict(acct, format="zkmargin.market/1")
    cases.append(("wrong format tag", ["check", write_json(tmp / "tag.json", wrong), *VENUE],
                  ["tag.json", "format"]))
    unknown = json.loads(json.dumps(acct))
    unknown["positions"][0]["symbol"] = "NOPEUSDT"
    cases.append(("unknown symbol", ["check", write_json(tmp / "unknown.json", unknown), *VENUE],
                  ["unknown.json", "positions[0].symbol", "NOPEUSDT"]))
    missing = json.loads(json.dumps(mkt))
    del missing["prices"]["ETHUSDT"]
    cases.append(("missing price", ["check", ACCOUNT, "--market",
                                    write_json(tmp / "market.json", missing), "--policy", POLICY],
                  ["market.json", "prices.ETHUSDT"]))
    decimals = json.loads(json.dumps(acct))
    decimals["positions"][1]["size"] = "-40.0001"  # size scale is 3
    cases.append(("too many decimals", ["check", write_json(tmp / "dec.json", decimals), *VENUE],
                  ["dec.json", "positions[1].size", "decimals"]))
    cases.append(("missing file", ["check", str(tmp / "nope.json"), *VENUE], ["nope.json"]))
    cases.append(("a folder", ["check", str(tmp), *VENUE], [str(tmp)]))
    return cases


def test_bad_inputs_each_exit_2_with_one_line_naming_file_and_field(docs, tmp_path):
    for name, argv, needles in _bad_inputs(docs, tmp_path):
        r = run(argv)
        one_line_error(r, 2, "error:", *needles)
        assert r.stdout == "", name


def test_bad_inputs_with_json_write_one_error_document(docs, tmp_path):
    """With --json, stdout holds exactly one document even on exit 2: the error (issue 11)."""
    for name, argv, needles in _bad_inputs(docs, tmp_path):
        r = run(argv + ["--json"])
        line = one_line_error(r, 2, *needles)
        doc = one_json(r)
        assert doc["ok"] is False and doc["exit_code"] == 2, name
        assert line.endswith(doc["error"]), name


def test_error_lines_never_contain_private_values(docs, tmp_path):
    bad = json.loads(json.dumps(docs["account"]))
    bad["positions"][0]["size"] = "3.14159"
    line = one_line_error(run(["check", write_json(tmp_path / "a.json", bad), *VENUE]), 2)
    assert "3.14159" not in line


# --- prove ----------------------------------------------------------------------------------------


def test_prove_writes_a_bundle_that_verifies(proof):
    bundle = zkmargin.ProofBundle.load(proof)
    assert bundle.statement["threshold"] == THRESHOLD
    assert bundle.statement["challenge"] == CHALLENGE
    zkmargin.verify(bundle, MARKET, POLICY, THRESHOLD, bytes.fromhex(CHALLENGE))


def test_prove_to_stdout_is_one_bundle_document():
    r = run(["prove", ACCOUNT, *VENUE])
    assert r.exit_code == 0
    doc = one_json(r)
    assert doc["format"] == "zkmargin.proof/2" and doc["statement"]["challenge"] is None
    assert doc["attestations"] == []  # self-declared values
    assert "no --challenge" in r.stderr  # the trader is told a venue will want one
    assert "\r" not in r.stderr  # no progress spinner when stderr is not a terminal


def test_prove_below_requirement_exits_1_and_writes_nothing(thin_account, tmp_path):
    out = tmp_path / "proof.json"
    r = run(["prove", thin_account, *VENUE, "--threshold", "10000", "-o", str(out)])
    one_line_error(r, 1, "rejected:", "does not meet")
    assert not out.exists()
    assert list(tmp_path.iterdir()) == []  # no temporary file either


def test_prove_failure_leaves_an_existing_output_untouched(thin_account, tmp_path):
    out = tmp_path / "proof.json"
    out.write_bytes(b"previous proof")
    r = run(["prove", thin_account, *VENUE, "--threshold", "10000", "-o", str(out)])
    assert r.exit_code == 1
    assert out.read_bytes() == b"previous proof"
    assert [p.name for p in tmp_path.iterdir()] == ["proof.json"]


def test_prove_interrupted_exits_130_and_leaves_output_untouched(monkeypatch, tmp_path):
    def interrupted(*a, **k):
        raise KeyboardInterrupt

    monkeypatch.setattr(commands_core, "run_prove", interrupted)
    out = tmp_path / "proof.json"
    out.write_bytes(b"previous proof")
    r = run(["prove", ACCOUNT, *VENUE, "-o", str(out)])
    one_line_error(r, 130, "interrupted")
    assert out.read_bytes() == b"previous proof"


def test_prove_interrupted_while_writing_leaves_no_partial_file(monkeypatch, tmp_path, proof):
    bundle = zkmargin.ProofBundle.load(proof)
    monkeypatch.setattr(commands_core, "run_prove", lambda *a, **k: bundle)
    real_fsync = os.fsync

    def interrupted_fsync(fd):
        raise KeyboardInterrupt

    monkeypatch.setattr(zkmargin.files.atomic.os, "fsync", interrupted_fsync)
    out = tmp_path / "proof.json"
    r = run(["prove", ACCOUNT, *VENUE, "-o", str(out)])
    monkeypatch.setattr(zkmargin.files.atomic.os, "fsync", real_fsync)
    one_line_error(r, 130, "interrupted")
    assert list(tmp_path.iterdir()) == []  # neither the file nor its temporary


def test_prove_output_folder_missing_fails_before_proving(monkeypatch, tmp_path):
    called = []
    monkeypatch.setattr(commands_core, "run_prove", lambda *a, **k: called.append(1))
    r = run(["prove", ACCOUNT, *VENUE, "-o", str(tmp_path / "no" / "proof.json")])
    one_line_error(r, 2, "does not exist")
    assert called == []
    r = run(["prove", ACCOUNT, *VENUE, "-o", str(tmp_path)])
    one_line_error(r, 2, "is a folder")


def test_unexpected_exception_is_one_internal_error_line(monkeypatch):
    def boom(*a, **k):
        raise RuntimeError("boom\nsecond line")

    monkeypatch.setattr(commands_core, "run_prove", boom)
    monkeypatch.delenv("ZKMARGIN_DEBUG", raising=False)
    r = run(["prove", ACCOUNT, *VENUE])
    one_line_error(r, 2, "internal error: RuntimeError: boom second line", "ZKMARGIN_DEBUG=1")


def test_zkmargin_debug_shows_the_exception(monkeypatch):
    def boom(*a, **k):
        raise RuntimeError("boom")

    monkeypatch.setattr(commands_core, "run_prove", boom)
    r = run(["prove", ACCOUNT, *VENUE], env={"ZKMARGIN_DEBUG": "1"}, catch=True)
    assert isinstance(r.exception, RuntimeError)  # twin of the test above


def test_oserror_is_one_line_exit_2(monkeypatch, tmp_path, proof):
    bundle = zkmargin.ProofBundle.load(proof)
    monkeypatch.setattr(commands_core, "run_prove", lambda *a, **k: bundle)

    def denied(path, data):
        raise PermissionError(13, "Permission denied", str(path))

    monkeypatch.setattr(zkmargin.files.atomic, "write_atomic", denied)
    r = run(["prove", ACCOUNT, *VENUE, "-o", str(tmp_path / "p.json")])
    one_line_error(r, 2, "p.json", "Permission denied")


@pytest.mark.parametrize("hexarg, needle", [
    ("xyz", "hexadecimal"),
    ("0x" + "ab" * 32, "hexadecimal"),
    ("ab" * 32 + " ", "hexadecimal"),
    ("abc", "odd number"),
    ("ab" * 8 + "a", "odd number"),
    ("ab" * 15, "16 to 64 bytes"),
    ("ab" * 65, "16 to 64 bytes"),
])
def test_challenge_hex_parses_strictly(hexarg, needle, tmp_path):
    r = run(["prove", ACCOUNT, *VENUE, "--challenge", hexarg, "-o", str(tmp_path / "p.json")])
    one_line_error(r, 2, "--challenge", needle)
    assert not (tmp_path / "p.json").exists()


def test_progress_spinner_only_on_a_terminal():
    class TTY(io.StringIO):
        def isatty(self):
            return True

    import time

    tty = TTY()
    with output.progress("proving", stream=tty, delay=0.0, interval=0.01):
        time.sleep(0.1)
    assert "proving" in tty.getvalue() and tty.getvalue().endswith("\r\033[K")
    plain = io.StringIO()
    with output.progress("proving", stream=plain, delay=0.0, interval=0.01):
        time.sleep(0.1)
    assert plain.getvalue() == ""


# --- verify ---------------------------------------------------------------------------------------


def test_verify_valid_exits_0(proof):
    r = run(verify_args(proof))
    assert r.exit_code == 0 and r.stderr == ""
    assert r.stdout.startswith("valid: ") and "threshold 1000" in r.stdout


def test_verify_json_is_the_verification_result(proof):
    r = run(verify_args(proof, THRESHOLD, CHALLENGE, "--json"))
    assert r.exit_code == 0
    doc = one_json(r)
    assert doc["valid"] is True and doc["proofs"] == 1
    assert doc["statement"]["challenge"] == CHALLENGE
    assert set(zkmargin.VerificationResult(True, {}, 0, 0, 0.0, "x").to_json_dict()) <= set(doc)


def _tampered(proof: str, tmp: Path, how: str) -> str:
    doc = json.loads(Path(proof).read_text())
    if how == "proof byte":
        raw = bytearray.fromhex(doc["proof"])
        raw[len(raw) // 2] ^= 0x01
        doc["proof"] = raw.hex()
    elif how == "truncated proof":
        doc["proof"] = doc["proof"][:-64]
    elif how == "commitment":
        doc["commitments"][0], doc["commitments"][1] = doc["commitments"][1], doc["commitments"][0]
    elif how == "statement threshold":
        doc["statement"]["threshold"] = "0"
    return write_json(tmp / f"{how.replace(' ', '_')}.json", doc)


@pytest.mark.parametrize("how", ["proof byte", "truncated proof", "commitment"])
def test_verify_tampered_bundle_rejected_exit_1(proof, tmp_path, how):
    r = run(verify_args(_tampered(proof, tmp_path, how)))
    one_line_error(r, 1, "rejected:")
    assert r.stdout == ""


def test_verify_edited_statement_rejected(proof, tmp_path):
    # the venue expects threshold 0 and the bundle now says 0: the proof itself was made for 1000
    r = run(verify_args(_tampered(proof, tmp_path, "statement threshold"), "0"))
    one_line_error(r, 1, "rejected:")


@pytest.mark.parametrize("threshold, challenge, needle", [
    ("2000", CHALLENGE, "threshold"),  # wrong threshold
    ("0", CHALLENGE, "threshold"),
    (THRESHOLD, "b6" * 32, "another challenge"),  # wrong challenge (a replay)
    (THRESHOLD, None, "another challenge"),  # the venue issued none
])
def test_verify_wrong_public_input_rejected_exit_1(proof, threshold, challenge, needle):
    one_line_error(run(verify_args(proof, threshold, challenge)), 1, "rejected:", needle)


def test_verify_against_another_market_or_policy_rejected(proof, docs, tmp_path):
    mkt = json.loads(json.dumps(docs["market"]))
    mkt["prices"]["BTCUSDT"] = "67250.41"
    m = write_json(tmp_path / "m.json", mkt)
    r = run(["verify", proof, "--market", m, "--policy", POLICY, "-t", THRESHOLD, "-c", CHALLENGE])
    one_line_error(r, 1, "another market")
    pol = json.loads(json.dumps(docs["policy"]))
    pol["buffer"] = "0.06"
    p = write_json(tmp_path / "p.json", pol)
    r = run(["verify", proof, "--market", MARKET, "--policy", p, "-t", THRESHOLD, "-c", CHALLENGE])
    one_line_error(r, 1, "another policy")


def test_verify_json_rejection_is_one_document(proof):
    r = run(verify_args(proof, "2000", CHALLENGE, "--json"))
    assert r.exit_code == 1
    doc = one_json(r)
    assert doc["valid"] is False and "threshold" in doc["error"]
    assert doc["error_type"] == "StatementMismatchError"


@pytest.mark.parametrize("content, needle", [
    ("{not json", "JSON"),
    (json.dumps({"format": "zkmargin.proof/3"}), "format"),
    (json.dumps({"format": "zkmargin.proof/1"}), "older zkmargin"),
    (json.dumps([1, 2]), "JSON object"),
])
def test_verify_unreadable_bundle_exit_2(tmp_path, content, needle):
    p = tmp_path / "bundle.json"
    p.write_text(content)
    one_line_error(run(verify_args(p)), 2, "error:", "bundle.json", needle)


def test_verify_missing_bundle_exit_2(tmp_path):
    one_line_error(run(verify_args(tmp_path / "none.json")), 2, "none.json")


def test_verify_bad_challenge_hex_exit_2(proof):
    one_line_error(run(verify_args(proof, THRESHOLD, "zz" * 32)), 2, "--challenge")


def test_backend_from_environment_is_checked(proof):
    r = run(verify_args(proof), env={"ZKMARGIN_BACKEND": "nope"})
    one_line_error(r, 2, "ZKMARGIN_BACKEND", "unknown backend")


def test_backend_option_reaches_the_library(proof, monkeypatch):
    seen = {}

    def spy(*a, backend=None, **k):
        seen["backend"] = backend
        return zkmargin.verify(Path(a[0]), *a[1:5])

    monkeypatch.setattr(commands_core, "run_verify", spy)
    assert run(["--backend", "py_ecc", *verify_args(proof)]).exit_code == 0
    assert seen["backend"] == "py_ecc"
    assert run(verify_args(proof)).exit_code == 0
    assert seen["backend"] is None  # twin: without the option the library's default applies


# --- verify-batch ---------------------------------------------------------------------------------


def test_verify_batch_valid(proof):
    r = run(["verify-batch", proof, proof, *VENUE, "-t", THRESHOLD, "-c", CHALLENGE, "--json"])
    assert r.exit_code == 0
    doc = one_json(r)
    assert doc["valid"] is True and doc["proofs"] == 2


def test_verify_batch_names_the_invalid_bundle(proof, tmp_path):
    bad = _tampered(proof, tmp_path, "commitment")
    r = run(["verify-batch", proof, bad, *VENUE, "-t", THRESHOLD, "-c", CHALLENGE])
    one_line_error(r, 1, "rejected:", "[1]")
    r = run(["verify-batch", proof, bad, *VENUE, "-t", THRESHOLD, "-c", CHALLENGE, "--json"])
    assert r.exit_code == 1 and one_json(r)["valid"] is False


def test_verify_batch_challenges_per_proof(proof):
    args = ["verify-batch", proof, proof, *VENUE, "-t", THRESHOLD]
    assert run(args + ["-c", CHALLENGE, "-c", CHALLENGE]).exit_code == 0
    one_line_error(run(args + ["-c", CHALLENGE, "-c", "b6" * 32]), 1, "bundle 1")
    one_line_error(run(args + ["-c", CHALLENGE] * 3), 2, "3 challenges for 2 proofs")


def test_verify_batch_needs_a_proof():
    one_line_error(run(["verify-batch", *VENUE]), 2, "Missing argument")


# --- inspect --------------------------------------------------------------------------------------


def test_inspect_shows_the_public_statement_and_sizes(proof):
    r = run(["inspect", proof])
    assert r.exit_code == 0
    bundle = zkmargin.ProofBundle.load(proof)
    assert bundle.statement["policy_digest"] in r.stdout
    assert f"{len(bundle.proof)} bytes" in r.stdout
    assert f"{bundle.proof[5]} inner-product rounds" in r.stdout


def test_inspect_json(proof):
    r = run(["inspect", proof, "--json"])
    assert r.exit_code == 0
    doc = one_json(r)
    bundle = zkmargin.ProofBundle.load(proof)
    assert doc["statement"] == bundle.statement
    assert doc["commitments"] == len(bundle.commitments)
    assert doc["proof_bytes"] == len(bundle.proof)
    assert doc["padded_gates"] == 1 << doc["inner_product_rounds"] >= doc["statement"]["gates"]
    assert doc["bundle_bytes"] == Path(proof).stat().st_size


def test_inspect_prints_nothing_private(proof, docs):
    out = run(["inspect", proof]).stdout + run(["inspect", proof, "--json"]).stdout
    account = docs["account"]
    secrets = [p["entry_price"] for p in account["positions"]] + list(account["balances"].values())
    secrets += [p["size"] for p in account["positions"] if len(p["size"]) > 2]
    for value in secrets:
        assert f'"{value}"' not in out and f" {value} " not in out
    # twin: the same check finds the values in the clear-text report
    report = run(["check", ACCOUNT, *VENUE]).stdout
    assert any(f" {v}" in report for v in ("800", "-40"))


def test_inspect_malformed_exit_2(proof, tmp_path):
    one_line_error(run(["inspect", _tampered(proof, tmp_path, "truncated proof")]), 2, "proof")
    one_line_error(run(["inspect", str(tmp_path / "none.json")]), 2, "none.json")


# --- bench and demo -------------------------------------------------------------------------------


def _fake_report(quick=False, backend=None, progress=None) -> BenchReport:
    row = BenchRow("W1", "cross", 20, 0, 24, 1777, 2048, 0.9, 0.08, 1606, 2758, 6000)
    return BenchReport(rows=[row], backend="arkworks", quick=quick, seconds=1.0,
                       machine={"cpu": "test cpu", "cores": 2, "python": "3.11",
                                "py_arkworks_bls12381": "0.5.0", "platform": "x"})


def test_bench_table_and_json_from_one_library_call(monkeypatch):
    import zkmargin.workflows.bench as bench

    calls = []

    def fake(**kw):
        calls.append(kw)
        return _fake_report(**kw)

    monkeypatch.setattr(bench, "run_benchmarks", fake)
    r = run(["bench", "--quick"])
    assert r.exit_code == 0 and "| W1 " in r.stdout and "test cpu" in r.stdout
    r = run(["bench", "--quick", "--json"])
    doc = one_json(r)
    assert doc["workloads"][0]["gates"] == 1777 and doc["quick"] is True
    assert [c["quick"] for c in calls] == [True, True]


def test_demo_runs_on_the_shipped_examples():
    r = run(["demo"])
    assert r.exit_code == 0, r.stdout + r.stderr
    no_traceback(r)
    out = r.stdout
    for needle in ("MEETS the requirement", "valid (", "rejected: ", "the prover refuses",
                   "isolated", "portfolio", "vouched for by example-custodian", "another account",
                   "another venue", "stale", "another challenge", "self-declared values",
                   "steps behaved as expected"):
        assert needle in out, needle
    assert "UNEXPECTED" not in out


def test_demo_exits_1_when_a_forgery_is_accepted(monkeypatch):
    import zkmargin.workflows.demo as demo

    def accept_everything(bundle, market, policy, threshold=0, challenge=None, **_kw):
        return zkmargin.VerificationResult(True, {}, 1, 1, 0.0, "fake")

    monkeypatch.setattr(demo, "verify", accept_everything)
    r = run(["demo"])
    one_line_error(r, 1, "demo: unexpected outcome in:", "tampered proof")
    assert "UNEXPECTED" in r.stdout
