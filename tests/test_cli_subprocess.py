"""The command line as real processes: the installed ``zkmargin`` entry point and
``python -m zkmargin.cli``. Exit codes, one-line stderr, no tracebacks, one JSON document on
stdout, Ctrl-C during a proof. Processes run in a scratch folder so they import the installed
package, as a user's shell would."""

from __future__ import annotations

import json
import os
import select
import shutil
import signal
import subprocess
import sys
import time
from importlib.resources import files
from pathlib import Path

import pytest

DATA = files("zkmargin.data")
POLICY = str(DATA / "example_policy_cross.json")
MARKET = str(DATA / "example_market_cross.json")
ACCOUNT = str(DATA / "example_account_cross.json")
VENUE = ["--market", MARKET, "--policy", POLICY]
CHALLENGE = "c3" * 32
THRESHOLD = "500"


def _entry_point() -> str:
    beside = Path(sys.executable).parent / "zkmargin"
    if beside.exists():
        return str(beside)
    found = shutil.which("zkmargin")
    if found is None:  # pragma: no cover - the package is not installed
        pytest.skip("the zkmargin entry point is not installed (pip install .)")
    return found


ENTRY = [_entry_point()]
MODULE = [sys.executable, "-m", "zkmargin.cli"]


def _env(**extra) -> dict:
    env = {k: v for k, v in os.environ.items()
           if k not in ("ZKMARGIN_BACKEND", "ZKMARGIN_DEBUG", "PYTHONPATH")}
    env.update(extra)
    return env


@pytest.fixture(scope="module")
def cwd(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("cwd")


def run(args, cwd: Path, launcher=ENTRY, env=None, timeout=300) -> subprocess.CompletedProcess:
    return subprocess.run([*launcher, *map(str, args)], cwd=cwd, env=env or _env(),
                          capture_output=True, text=True, timeout=timeout)


def clean(p: subprocess.CompletedProcess, code: int) -> None:
    assert p.returncode == code, (p.returncode, p.stdout[-2000:], p.stderr[-2000:])
    assert "Traceback" not in p.stderr and "Traceback" not in p.stdout


def one_line(p: subprocess.CompletedProcess, code: int, *needles: str) -> str:
    clean(p, code)
    lines = [line for line in p.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, p.stderr
    for n in needles:
        assert n in lines[0], (n, lines[0])
    return lines[0]


@pytest.fixture(scope="module")
def proof(cwd) -> Path:
    out = cwd / "proof.json"
    p = run(["prove", ACCOUNT, *VENUE, "-t", THRESHOLD, "-c", CHALLENGE, "-o", out], cwd)
    one_line(p, 0, "proved:")
    assert p.stdout == ""
    return out


@pytest.fixture(scope="module")
def thin(cwd) -> Path:
    from zkmargin.rules.models import write_document
    from zkmargin.workflows.demo import example, shrink_balances

    pol, _mkt, acct = example("cross")
    path = cwd / "thin.json"
    write_document(shrink_balances(acct, pol), path)
    return path


def test_help_from_both_launchers(cwd):
    for launcher in (ENTRY, MODULE, [sys.executable, "-m", "zkmargin.cli.main"]):
        p = run(["--help"], cwd, launcher)
        clean(p, 0)
        for name in ("demo", "check", "prove", "verify", "verify-batch", "challenge", "inspect",
                     "bench"):
            assert name in p.stdout


def test_usage_error_is_exit_2_one_line(cwd):
    one_line(run(["prove", ACCOUNT, "--policy", POLICY], cwd), 2, "Missing option '--market'")
    one_line(run(["nope"], cwd, MODULE), 2, "No such command")


def test_challenge(cwd):
    p = run(["challenge"], cwd)
    clean(p, 0)
    assert len(bytes.fromhex(p.stdout.strip())) == 32


def test_check_exit_codes(cwd, thin, tmp_path):
    p = run(["check", ACCOUNT, *VENUE, "--json"], cwd)
    clean(p, 0)
    assert json.loads(p.stdout)["meets"] is True
    p = run(["check", thin, *VENUE, "-t", "10000"], cwd)
    one_line(p, 1, "rejected:")
    bad = tmp_path / "bad.json"
    bad.write_text("{")
    p = run(["check", bad, *VENUE, "--json"], cwd)
    one_line(p, 2, "bad.json")
    assert json.loads(p.stdout)["error_type"] == "FormatError"  # the one document is the error


def test_prove_and_verify(proof, cwd):
    p = run(["verify", proof, *VENUE, "-t", THRESHOLD, "-c", CHALLENGE], cwd)
    clean(p, 0)
    assert p.stdout.startswith("valid: ")
    p = run(["verify", proof, *VENUE, "-t", THRESHOLD, "-c", CHALLENGE, "--json"], cwd, MODULE)
    clean(p, 0)
    assert json.loads(p.stdout)["valid"] is True


def test_verify_rejections(proof, cwd, tmp_path):
    one_line(run(["verify", proof, *VENUE, "-t", THRESHOLD, "-c", "d4" * 32], cwd), 1,
             "another challenge")
    one_line(run(["verify", proof, *VENUE, "-t", "501", "-c", CHALLENGE], cwd), 1, "threshold")
    doc = json.loads(proof.read_text())
    raw = bytearray.fromhex(doc["proof"])
    raw[-40] ^= 0x80
    doc["proof"] = raw.hex()
    tampered = tmp_path / "tampered.json"
    tampered.write_text(json.dumps(doc))
    p = run(["verify", tampered, *VENUE, "-t", THRESHOLD, "-c", CHALLENGE, "--json"], cwd)
    one_line(p, 1, "rejected:")
    assert json.loads(p.stdout)["valid"] is False
    doc["proof"] = doc["proof"][:100]
    tampered.write_text(json.dumps(doc))
    one_line(run(["verify", tampered, *VENUE, "-t", THRESHOLD, "-c", CHALLENGE], cwd), 1,
             "proof")


def test_verify_input_errors(proof, cwd, tmp_path):
    one_line(run(["verify", proof, *VENUE, "-c", "not-hex"], cwd), 2, "--challenge")
    wrong = tmp_path / "wrong.json"
    wrong.write_text(json.dumps({**json.loads(proof.read_text()), "format": "zkmargin.proof/0"}))
    one_line(run(["verify", wrong, *VENUE, "-t", THRESHOLD, "-c", CHALLENGE], cwd), 2,
             "wrong.json", "format")
    one_line(run(["verify", proof, *VENUE], cwd, env=_env(ZKMARGIN_BACKEND="nope")), 2,
             "unknown backend")


def test_verify_batch(proof, cwd):
    p = run(["verify-batch", proof, proof, *VENUE, "-t", THRESHOLD, "-c", CHALLENGE, "--json"], cwd)
    clean(p, 0)
    assert json.loads(p.stdout)["proofs"] == 2
    one_line(run(["verify-batch", proof, proof, *VENUE, "-t", THRESHOLD], cwd), 1, "rejected:")


def test_inspect(proof, cwd, tmp_path):
    p = run(["inspect", proof, "--json"], cwd)
    clean(p, 0)
    doc = json.loads(p.stdout)
    assert doc["statement"]["challenge"] == CHALLENGE and doc["proof_bytes"] > 0
    bad = tmp_path / "bad.json"
    bad.write_text("[]")
    one_line(run(["inspect", bad], cwd), 2, "bad.json")


def test_prove_refuses_below_requirement_and_writes_nothing(thin, cwd, tmp_path):
    out = tmp_path / "p.json"
    one_line(run(["prove", thin, *VENUE, "-t", "10000", "-o", out], cwd), 1, "does not meet")
    assert not out.exists() and list(tmp_path.iterdir()) == []
    one_line(run(["prove", ACCOUNT, *VENUE, "-c", "abc", "-o", out], cwd), 2, "--challenge")
    assert not out.exists()


def test_python_backend_option(cwd):
    clean(run(["--backend", "py_ecc", "check", ACCOUNT, *VENUE], cwd), 0)
    one_line(run(["--backend", "nope", "check", ACCOUNT, *VENUE], cwd), 2, "nope")


def _read_until(fd: int, needle: bytes, proc, timeout: float) -> bytes:
    """Read ``fd`` until ``needle`` shows up, the process ends, or ``timeout`` passes."""
    buf = b""
    deadline = time.monotonic() + timeout
    while needle not in buf and proc.poll() is None and time.monotonic() < deadline:
        ready, _, _ = select.select([fd], [], [], 0.1)
        if ready:
            try:
                buf += os.read(fd, 4096)
            except OSError:
                break
    return buf


def _drain(fd: int) -> bytes:
    buf = b""
    while True:
        ready, _, _ = select.select([fd], [], [], 0.5)
        if not ready:
            return buf
        try:
            chunk = os.read(fd, 4096)
        except OSError:
            return buf
        if not chunk:
            return buf
        buf += chunk


@pytest.mark.skipif(not hasattr(os, "openpty"), reason="needs a pseudo-terminal")
def test_ctrl_c_during_prove_exits_130_and_leaves_nothing_half_written(cwd, tmp_path):
    """stderr is a terminal here, so prove shows its progress line; Ctrl-C arrives once it shows
    (the proof is under way), and the process must end with one 'interrupted' line, exit 130,
    and the previous output file intact."""
    from zkmargin.workflows.bench import cross_workload

    names = ("policy.json", "market.json", "account.json")
    for name, doc in zip(names, cross_workload(128)):
        (tmp_path / name).write_text(json.dumps(doc))
    out = tmp_path / "out" / "proof.json"
    out.parent.mkdir()
    out.write_bytes(b"previous")
    master, slave = os.openpty()
    try:
        # the child starts with Ctrl-C's default action, as from a terminal, even when this suite
        # runs as a background job (a shell starts those with SIGINT ignored, and an ignored
        # signal stays ignored across exec: the proof would then finish)
        proc = subprocess.Popen(
            [*ENTRY, "prove", tmp_path / "account.json", "--market", tmp_path / "market.json",
             "--policy", tmp_path / "policy.json", "-o", out],
            cwd=cwd, env=_env(), stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=slave,
            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
        os.close(slave)
        seen = _read_until(master, b"proving", proc, timeout=120)
        assert b"proving" in seen and proc.poll() is None, (seen, proc.poll())
        proc.send_signal(signal.SIGINT)
        proc.wait(timeout=60)
        seen += _drain(master)
    finally:
        os.close(master)
    stdout = proc.stdout.read()
    proc.stdout.close()
    text = seen.decode(errors="replace")
    assert "Traceback" not in text
    after_spinner = text.split("\x1b[K")[-1]  # the progress line erases itself
    lines = [line for line in after_spinner.replace("\r", "\n").splitlines() if line.strip()]
    assert lines == ["interrupted"], text
    assert proc.returncode == 130 and stdout == b""
    assert out.read_bytes() == b"previous"
    assert [x.name for x in out.parent.iterdir()] == ["proof.json"]


def test_demo(cwd):
    p = run(["demo"], cwd)
    clean(p, 0)
    assert "steps behaved as expected" in p.stdout and "UNEXPECTED" not in p.stdout


def test_bench_quick_json(cwd):
    p = run(["bench", "--quick", "--json"], cwd, timeout=600)
    clean(p, 0)
    doc = json.loads(p.stdout)
    names = [w["workload"] for w in doc["workloads"]]
    assert names == ["W1", "W2", "sweep-4", "sweep-8", "sweep-16", "sweep-32"]
    assert doc["msm4096_seconds"] > 0  # every figure is quoted against the same run's MSM
    for w in doc["workloads"]:
        assert w["prove_msm4096"] == round(w["prove_seconds"] / doc["msm4096_seconds"], 2) or abs(
            w["prove_msm4096"] - w["prove_seconds"] / doc["msm4096_seconds"]) < 0.01
    for w in doc["workloads"]:
        assert w["padded_gates"] >= w["gates"] > 0
        assert w["prove_seconds"] > 0 and w["verify_seconds"] > 0
        assert w["bundle_bytes"] > w["binary_bytes"] > w["proof_bytes"] > 0
    w1, w2 = doc["workloads"][:2]
    assert (w1["mode"], w1["instruments"]) == ("cross", 20)
    assert (w2["mode"], w2["instruments"], w2["scenarios"]) == ("portfolio", 20, 16)
