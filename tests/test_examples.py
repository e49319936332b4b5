"""Every example in examples/ works: each triplet checks, proves and verifies; the under-margined
accounts are refused; the portfolio policy is what its build script produces; and
examples/walkthrough.sh runs end to end (and fails when a step misbehaves)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

import zkmargin
from zkmargin.cli.main import cli

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "examples"
WALKTHROUGH = EXAMPLES / "walkthrough.sh"

# (folder, account, exit code of check and prove)
TRIPLETS = [
    ("cross", "account.json", 0),
    ("cross", "account_b.json", 0),
    ("cross", "account_thin.json", 1),
    ("isolated", "account.json", 0),
    ("isolated", "account_thin.json", 1),
    ("portfolio", "account.json", 0),
    ("custodian", "account.json", 0),
    ("unified", "account.json", 0),
    ("unified", "account_thin.json", 1),
    ("risk", "account.json", 0),  # proved in tests/test_zones.py's kind (zone) and test_risk_measures.py (ES)
]
PROVED = {("cross", "account.json"), ("isolated", "account.json"), ("portfolio", "account.json"),
          ("unified", "account.json")}


def run(args):
    return CliRunner().invoke(cli, [str(a) for a in args], catch_exceptions=False)


def venue(folder: str) -> list:
    return ["--market", EXAMPLES / folder / "market.json", "--policy", EXAMPLES / folder / "policy.json"]


def test_every_example_file_is_listed_here():
    accounts = {(p.parent.name, p.name) for p in EXAMPLES.glob("*/account*.json")}
    assert accounts == {(f, a) for f, a, _ in TRIPLETS}
    for folder in {f for f, _a, _c in TRIPLETS}:
        pol = zkmargin.load_policy(EXAMPLES / folder / "policy.json")
        assert pol.mode == {"custodian": "cross", "risk": "portfolio"}.get(folder, folder)
        zkmargin.load_market(EXAMPLES / folder / "market.json", pol)


def test_examples_are_realistic():
    cross = zkmargin.load_policy(EXAMPLES / "cross" / "policy.json")
    kinds = {i.rule("maintenance").kind for i in cross.instruments}
    assert kinds == {"brackets", "linear", "flat"}
    assert any(c.tiers for c in cross.collateral) and any(c.haircut for c in cross.collateral)
    pf = zkmargin.load_policy(EXAMPLES / "portfolio" / "policy.json")
    assert {i.kind for i in pf.instruments} == {"perpetual", "future", "option"}
    assert len(pf.scenarios.names) == 16


@pytest.mark.parametrize("folder, account, code", TRIPLETS)
def test_example_check_prove_verify(folder, account, code, tmp_path):
    acct = EXAMPLES / folder / account
    r = run(["check", acct, *venue(folder), "--json"])
    assert r.exit_code == code, r.stderr
    assert json.loads(r.stdout)["meets"] is (code == 0)
    if (folder, account) not in PROVED and code == 0:
        return  # proved by the walkthrough
    out = tmp_path / "proof.json"
    challenge = os.urandom(32).hex()
    r = run(["prove", acct, *venue(folder), "--challenge", challenge, "-o", out])
    assert r.exit_code == code, r.stderr
    if code:
        assert not out.exists()
        return
    r = run(["verify", out, *venue(folder), "--challenge", challenge, "--json"])
    assert r.exit_code == 0, r.stderr
    assert json.loads(r.stdout)["statement"]["mode"] == folder
    # twin: the same proof against another example venue is rejected
    other = "cross" if folder != "cross" else "isolated"
    r = run(["verify", out, *venue(other), "--challenge", challenge])
    assert r.exit_code == 1


def test_the_custodian_example_is_the_packaged_one_with_a_labelled_example_key():
    """examples/custodian and the demo's package data are the same venue; its key pair is the
    published example key, named as such; the policy requires what the README says."""
    from importlib.resources import files

    from zkmargin.workflows import custodian as A

    here = EXAMPLES / "custodian"
    data = files("zkmargin.data")
    assert (here / "policy.json").read_text() == (data / "example_policy_custodian.json").read_text()
    assert (here / "account.json").read_text() == (data / "example_account_cross.json").read_text()
    key = json.loads((data / "example_custodian_key.json").read_text())
    assert "EXAMPLE KEY ONLY" in key["warning"]
    assert (here / "EXAMPLE-ONLY-custodian.key").read_text().strip() == key["seed"]
    public = A.key_id(A.load_private_key(here / "EXAMPLE-ONLY-custodian.key"))
    assert public == key["public_key"] == (here / "EXAMPLE-ONLY-custodian.pub").read_text().strip()
    trust = zkmargin.load_policy(here / "policy.json").trust
    assert [c.key for c in trust.custodians] == [public]
    assert trust.attestation_challenge and not trust.self_declared and not trust.unchallenged
    assert "published example key" in (here / "README.md").read_text()


def test_portfolio_policy_is_what_the_build_script_makes(tmp_path):
    sys.path.insert(0, str(EXAMPLES / "portfolio"))
    try:
        import build_policy
    finally:
        sys.path.pop(0)
    build_policy.main(tmp_path)
    for name in ("market.json", "policy.json"):
        assert json.loads((tmp_path / name).read_text()) == \
            json.loads((EXAMPLES / "portfolio" / name).read_text()), name


def _zkmargin_launcher() -> str:
    """The command line of this checkout (PYTHONPATH below), not whichever zkmargin is installed:
    the walkthrough must match the code beside it. (tests/test_cli_subprocess.py runs the
    installed entry point.)"""
    return f"{sys.executable} -m zkmargin.cli"


def _walkthrough(env_extra: dict, tmp_path: Path) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k not in ("ZKMARGIN_BACKEND", "KEEP")}
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT)] + [p for p in env.get("PYTHONPATH", "").split(os.pathsep) if p])
    env.update(TMPDIR=str(tmp_path), **env_extra)
    return subprocess.run(["bash", str(WALKTHROUGH)], env=env, capture_output=True, text=True,
                          timeout=300)


@pytest.mark.skipif(shutil.which("bash") is None, reason="needs bash")
def test_walkthrough_runs_end_to_end(tmp_path):
    p = _walkthrough({"ZKMARGIN": _zkmargin_launcher()}, tmp_path)
    assert p.returncode == 0, p.stdout[-3000:] + p.stderr[-3000:]
    assert "walkthrough: every step behaved as expected" in p.stdout
    assert "Traceback" not in p.stdout + p.stderr
    assert p.stdout.count("as expected)") == WALKTHROUGH.read_text().count("\nexpect ") + 1
    assert list(tmp_path.iterdir()) == []  # its work folder is cleaned up


@pytest.mark.skipif(shutil.which("bash") is None, reason="needs bash")
def test_walkthrough_fails_when_a_step_misbehaves(tmp_path):
    # a "zkmargin" that accepts everything: the first expected rejection must stop the script
    fake = tmp_path / "fake-zkmargin"
    fake.write_text("#!/bin/sh\necho 00112233445566778899aabbccddeeff\nexit 0\n")
    fake.chmod(0o755)
    work = tmp_path / "tmp"
    work.mkdir()
    p = _walkthrough({"ZKMARGIN": str(fake)}, work)
    assert p.returncode != 0
    assert "expected exit 1, got 0" in p.stderr
