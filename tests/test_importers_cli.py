"""The import commands, in process (click's CliRunner): exit codes, one-line errors naming the
file and field, nothing written on error, the account written 0600 and its values printed only
when asked, --json as exactly one document; and examples/exchange/walkthrough.sh end to end."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from zkmargin.cli.main import cli

ROOT = Path(__file__).resolve().parents[1]
FIX = ROOT / "tests" / "fixtures" / "ccxt"
BIN = FIX / "binanceusdm"
EXAMPLE = ROOT / "examples" / "exchange"


def run(args):
    return CliRunner().invoke(cli, [str(a) for a in args], catch_exceptions=False)


def one_line_error(result, code: int, *needles: str) -> str:
    assert result.exit_code == code, (result.exit_code, result.stdout, result.stderr)
    assert "Traceback" not in result.stdout + result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    for n in needles:
        assert n in lines[0], (n, lines[0])
    return lines[0]


def venue(tmp_path, data=BIN, symbols="BTCUSDT,ETHUSDT,SOLUSDT", *extra):
    p, m = tmp_path / "policy.json", tmp_path / "market.json"
    r = run(["import-venue", "binanceusdm", "--data", data, "--symbols", symbols,
             "--policy-out", p, "--market-out", m, *extra])
    return r, p, m


def test_venue_account_reconcile_from_the_command_line(tmp_path):
    r, p, m = venue(tmp_path)
    assert r.exit_code == 0, r.stderr
    assert "wrote" in r.stdout and "1/75 rounded up" in r.stdout
    a = tmp_path / "account.json"
    r = run(["import-account", "binanceusdm", "--data", BIN, "--policy", p, "-o", a])
    assert r.exit_code == 0, r.stderr
    assert (os.stat(a).st_mode & 0o777) == 0o600
    # no private value on the terminal: sizes, entry prices, balances stay in the file
    for secret in ("25000", "64800.5", "1.25", "3555.2", "142.35"):
        assert secret not in r.stdout + r.stderr, secret
    assert "left out BNB" in r.stdout
    r = run(["reconcile", "binanceusdm", a, "--policy", p, "--data", BIN])
    assert r.exit_code == 0 and "they agree" in r.stdout
    r = run(["check", a, "--market", m, "--policy", p])
    assert r.exit_code == 0


def test_show_prints_the_values_only_when_asked(tmp_path):
    a = tmp_path / "account.json"
    r = run(["import-account", "binanceusdm", "--data", BIN, "-o", a, "--show"])
    assert r.exit_code == 0 and "64800.5" in r.stdout
    r = run(["import-account", "binanceusdm", "--data", BIN, "-o", a, "--json"])
    doc = json.loads(r.stdout)  # exactly one document
    assert doc["file_mode"] == "0600" and "values" not in doc and "64800.5" not in r.stdout
    r = run(["import-account", "binanceusdm", "--data", BIN, "-o", a, "--json", "--show"])
    assert json.loads(r.stdout)["values"]["positions"][0]["entry_price"] == "64800.5"


def test_json_outputs_are_one_document(tmp_path):
    r, p, m = venue(tmp_path, BIN, "BTCUSDT", "--json")
    doc = json.loads(r.stdout)
    assert doc["instruments"] == ["BTCUSDT"] and doc["as_of"] == "2024-06-03T08:00:00.123Z"
    r = run(["import-market", "binanceusdm", "--data", BIN, "--policy", p, "-o",
             tmp_path / "m2.json", "--json"])
    assert json.loads(r.stdout) == {"market": str(tmp_path / "m2.json"),
                                    "as_of": "2024-06-03T08:00:00.123Z", "prices": 1}
    assert (tmp_path / "m2.json").read_text() == m.read_text()


def test_a_missing_field_exits_2_names_file_and_field_and_writes_nothing(tmp_path):
    data = tmp_path / "rec"
    shutil.copytree(BIN, data)
    doc = json.loads((data / "mark_prices.json").read_text())
    del doc["ETH/USDT:USDT"]["info"]["markPrice"]
    (data / "mark_prices.json").write_text(json.dumps(doc))
    out = tmp_path / "out"
    out.mkdir()
    r, _, _ = venue(out, data)
    one_line_error(r, 2, "mark_prices.json", "marks[ETHUSDT].info.markPrice", "missing")
    assert list(out.iterdir()) == []


def test_a_float_for_a_string_exits_2_without_the_value(tmp_path):
    data = tmp_path / "rec"
    shutil.copytree(BIN, data)
    doc = json.loads((data / "balance.json").read_text())
    doc["info"]["assets"][0]["crossWalletBalance"] = 25000.0
    (data / "balance.json").write_text(json.dumps(doc))
    out = tmp_path / "account.json"
    r = run(["import-account", "binanceusdm", "--data", data, "-o", out])
    line = one_line_error(r, 2, "balance.json", "balance.info.assets[USDT].crossWalletBalance",
                          "binary float")
    assert "25000" not in line
    assert not out.exists()


def test_reconcile_exits_1_naming_the_position_that_differs(tmp_path):
    r, p, _ = venue(tmp_path)
    a = tmp_path / "account.json"
    run(["import-account", "binanceusdm", "--data", BIN, "--policy", p, "-o", a])
    data = tmp_path / "rec"
    shutil.copytree(BIN, data)
    rows = json.loads((data / "positions.json").read_text())
    rows[0]["info"]["maintMargin"] = "370.30000000"
    (data / "positions.json").write_text(json.dumps(rows))
    r = run(["reconcile", "binanceusdm", a, "--policy", p, "--data", data])
    one_line_error(r, 1, "rejected", "BTCUSDT differs by 0.015")
    assert "DIFFERS" in r.stdout
    r = run(["reconcile", "binanceusdm", a, "--policy", p, "--data", data, "--json"])
    doc = json.loads(r.stdout)
    assert r.exit_code == 1 and doc["agrees"] is False
    assert [x["symbol"] for x in doc["positions"] if not x["agrees"]] == ["BTCUSDT"]


def test_usage_errors_exit_2(tmp_path):
    r = run(["import-venue", "kraken", "--data", BIN, "--policy-out", tmp_path / "p",
             "--market-out", tmp_path / "m"])
    one_line_error(r, 2, "usage error")
    r = run(["import-account", "binanceusdm", "-o", tmp_path / "a.json"])
    one_line_error(r, 2, "no exchange data")
    r = run(["import-account", "binanceusdm", "--data", BIN, "-o", tmp_path / "nope" / "a.json"])
    one_line_error(r, 2, "does not exist")
    assert list(tmp_path.iterdir()) == []


@pytest.mark.slow
@pytest.mark.skipif(shutil.which("bash") is None, reason="needs bash")
def test_the_exchange_walkthrough_runs_end_to_end(tmp_path):
    env = {k: v for k, v in os.environ.items() if k not in ("ZKMARGIN_BACKEND", "KEEP")}
    env.update(TMPDIR=str(tmp_path), ZKMARGIN=f"{sys.executable} -m zkmargin.cli",
               PYTHONPATH=str(ROOT))
    p = subprocess.run(["bash", str(EXAMPLE / "walkthrough.sh")], env=env, capture_output=True,
                       text=True, timeout=300)
    assert p.returncode == 0, p.stdout[-3000:] + p.stderr[-3000:]
    assert "exchange walkthrough: every step behaved as expected" in p.stdout
    assert "Traceback" not in p.stdout + p.stderr
    assert list(tmp_path.iterdir()) == []
