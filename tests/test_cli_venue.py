"""The venue's policy-building commands, in process (click's CliRunner): ``scenarios`` and
``dynamic-margin``.

Each "it works" test has a twin showing the failure it guards against. Failures exit 2 with one
stderr line and leave nothing written (no output file, no temporary file)."""

from __future__ import annotations

import json
import math
import shutil
from decimal import Decimal
from importlib.resources import files
from pathlib import Path

import pytest
from click.testing import CliRunner

import zkmargin
from zkmargin.cli.main import cli
from zkmargin.rules.models import load_policy

ROOT = Path(__file__).resolve().parents[1]
PORTFOLIO = ROOT / "examples" / "portfolio"
PF_POLICY = str(PORTFOLIO / "policy.json")
PF_MARKET = str(PORTFOLIO / "market.json")
PF_ACCOUNT = str(PORTFOLIO / "account.json")
DATA = files("zkmargin.data")
CROSS_POLICY = str(DATA / "example_policy_cross.json")

# the parameters examples/portfolio/build_policy.py builds the shipped table with
VOLS = {"BTCUSDT": 0.55, "ETHUSDT": 0.62}
SHOCKS = {"BTCUSDT": 0.15, "BTCUSDT-20241227": 0.15, "ETHUSDT": 0.18}


def run(args):
    return CliRunner().invoke(cli, [str(a) for a in args], catch_exceptions=False)


def one_line_error(result, code: int, *needles: str) -> str:
    """Exit ``code``, exactly one non-empty stderr line containing every needle, no traceback."""
    assert result.exit_code == code, (result.exit_code, result.stdout, result.stderr)
    assert "Traceback" not in result.stdout + result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    for n in needles:
        assert n in lines[0], (n, lines[0])
    return lines[0]


def write_json(path: Path, doc) -> str:
    path.write_text(json.dumps(doc, indent=2))
    return str(path)


def nothing_written(folder: Path, *keep: str) -> None:
    assert sorted(p.name for p in folder.iterdir()) == sorted(keep)


@pytest.fixture
def vols(tmp_path) -> str:
    return write_json(tmp_path / "vols.json", VOLS)


@pytest.fixture
def shocks(tmp_path) -> str:
    return write_json(tmp_path / "shocks.json", SHOCKS)


def scen(out, *extra):
    return ["scenarios", PF_POLICY, "--market", PF_MARKET, "-o", out, *extra]


# --- scenarios -----------------------------------------------------------------------------------


def test_scenarios_span_rebuilds_the_example_table(tmp_path, vols, shocks):
    out = tmp_path / "policy.json"
    r = run(scen(out, "--vols", vols, "--spot-shocks", shocks, "--initial-factor", "1.5"))
    assert r.exit_code == 0, r.stderr
    assert "16 scenarios (span) x 9 instruments" in r.stdout
    new, shipped = load_policy(str(out)), load_policy(PF_POLICY)
    assert len(new.scenarios.names) == 16
    assert new.scenarios == shipped.scenarios
    assert zkmargin.policy_digest(new) == zkmargin.policy_digest(shipped)
    assert zkmargin.policy_digest(new) in r.stdout
    # twin: one flat spot shock (the default 0.15) prices ETH differently from the shipped 18 %
    out2 = tmp_path / "flat.json"
    assert run(scen(out2, "--vols", vols, "--initial-factor", "1.5")).exit_code == 0
    flat = load_policy(str(out2))
    assert flat.scenarios.pnl["BTCUSDT"] == shipped.scenarios.pnl["BTCUSDT"]
    assert flat.scenarios.pnl["ETHUSDT"] != shipped.scenarios.pnl["ETHUSDT"]


def test_scenarios_deribit_has_two_per_level(tmp_path):
    out = tmp_path / "deribit.json"
    r = run(scen(out, "--grid", "deribit", "--levels", "5", "--vol", "0.6"))
    assert r.exit_code == 0, r.stderr
    assert len(load_policy(str(out)).scenarios.names) == 10
    # twins: too few levels, and levels on the span grid, are usage errors
    one_line_error(run(scen(tmp_path / "x.json", "--grid", "deribit", "--levels", "1",
                            "--vol", "0.6")), 2, "--levels")
    one_line_error(run(scen(tmp_path / "x.json", "--levels", "5", "--vol", "0.6")), 2,
                   "only the deribit grid")
    nothing_written(tmp_path, "deribit.json")


def test_scenarios_output_passes_check_with_the_example_account(tmp_path, vols, shocks):
    out = tmp_path / "policy.json"
    assert run(scen(out, "--vols", vols, "--spot-shocks", shocks)).exit_code == 0
    r = run(["check", PF_ACCOUNT, "--market", PF_MARKET, "--policy", out])
    assert r.exit_code == 0, r.stdout + r.stderr
    assert "MEETS" in r.stdout
    # twin: the same table with a factor of 20 asks for more than the account's equity
    big = tmp_path / "big.json"
    assert run(scen(big, "--vols", vols, "--spot-shocks", shocks, "--factor", "20")).exit_code == 0
    r = run(["check", PF_ACCOUNT, "--market", PF_MARKET, "--policy", big])
    assert r.exit_code == 1 and "does NOT meet" in r.stdout


def test_scenarios_json_is_one_document(tmp_path, vols):
    out = tmp_path / "policy.json"
    r = run(scen(out, "--vols", vols, "--json"))
    assert r.exit_code == 0, r.stderr
    doc = json.loads(r.stdout)
    policy = load_policy(str(out))
    assert doc["policy"] == str(out) and doc["scenarios"] == 16 and doc["grid"] == "span"
    assert doc["policy_digest"] == zkmargin.policy_digest(policy)
    assert [i["symbol"] for i in doc["instruments"]] == policy.symbols
    btc = next(i for i in doc["instruments"] if i["symbol"] == "BTCUSDT")
    worst = max(-p for p in policy.scenarios.pnl["BTCUSDT"])
    assert Decimal(btc["worst_loss_long"]) == worst > 0
    assert btc["worst_scenario_long"].startswith("s16")
    # twin: an error with --json writes the error as the one document (and its line on stderr)
    r = run(scen(tmp_path / "x.json", "--json"))
    one_line_error(r, 2, "--vol")
    assert json.loads(r.stdout)["exit_code"] == 2


@pytest.mark.parametrize("args, needle", [
    (["--grid", "cme", "--vol", "0.5"], "'cme' is not one of"),
    (["--vol", "nan"], "--vol"),
    (["--vol", "1e-1"], "--vol"),
    (["--vol", "0"], "must be > 0"),
    (["--spot-shock", "-0.1", "--vol", "0.5"], "must be >= 0"),
    (["--factor", "1.00001", "--vol", "0.5"], "scenarios.factor"),
])
def test_scenarios_bad_options_exit_2(tmp_path, args, needle):
    one_line_error(run(scen(tmp_path / "out.json", *args)), 2, needle)
    nothing_written(tmp_path)


def test_scenarios_missing_vols_for_options_exit_2(tmp_path):
    line = one_line_error(run(scen(tmp_path / "out.json")), 2, "option", "--vol")
    assert "BTC-20241227-60000-P" in line
    nothing_written(tmp_path)
    # twin: a vols file without an entry for ETH's options names the missing key
    part = write_json(tmp_path / "vols.json", {"BTCUSDT": 0.55})
    one_line_error(run(scen(tmp_path / "out.json", "--vols", part)), 2, "ETHUSDT")
    nothing_written(tmp_path, "vols.json")


@pytest.mark.parametrize("content, needle", [
    ('{"BTCUSDT": 0.55, "ETHUSDT": NaN}', "NaN"),
    ('{"BTCUSDT": 0.55, "ETHUSDT": 1e400}', "exponent"),
    ('{"BTCUSDT": 0.55, "ETHUSDT": "x"}', "ETHUSDT"),
    ('{"BTCUSDT": 0.55, "ETHUSDT": true}', "boolean"),
    ('{"BTCUSDT": 0.55, "ETHUSD": 0.6}', "neither an instrument nor an underlying"),
    ('{"BTCUSDT": 0.55, "BTCUSDT": 0.6}', "duplicate"),
    ('[0.55]', "JSON object"),
    ('{"BTCUSDT": 0.55', "not valid JSON"),
])
def test_scenarios_bad_mapping_file_exit_2(tmp_path, content, needle):
    bad = tmp_path / "vols.json"
    bad.write_text(content)
    line = one_line_error(run(scen(tmp_path / "out.json", "--vols", bad)), 2, needle)
    assert str(bad) in line
    nothing_written(tmp_path, "vols.json")


def test_scenarios_flag_and_file_are_exclusive(tmp_path, vols):
    one_line_error(run(scen(tmp_path / "out.json", "--vols", vols, "--vol", "0.5")), 2,
                   "--vol or --vols, not both")
    one_line_error(run(scen(tmp_path / "out.json", "--vol", "0.5", "--spot-shock", "0.1",
                            "--spot-shocks", vols)), 2, "not both")
    nothing_written(tmp_path, "vols.json")


def test_scenarios_output_into_a_missing_folder_writes_nothing(tmp_path):
    out = tmp_path / "missing" / "policy.json"
    one_line_error(run(scen(out, "--vol", "0.5")), 2, "does not exist")
    nothing_written(tmp_path)
    # twin: a folder as output is refused too; a file in an existing folder works
    one_line_error(run(scen(tmp_path, "--vol", "0.5")), 2, "is a folder")
    assert run(scen(tmp_path / "policy.json", "--vol", "0.5")).exit_code == 0
    nothing_written(tmp_path, "policy.json")


def test_scenarios_refuses_to_replace_its_input_without_force(tmp_path):
    src = tmp_path / "policy.json"
    shutil.copy(PF_POLICY, src)
    before = src.read_bytes()
    args = ["scenarios", src, "--market", PF_MARKET, "-o", src, "--vol", "0.5"]
    one_line_error(run(args), 2, "is the input policy", "--force")
    assert src.read_bytes() == before
    # twin: with --force the file is replaced (atomically) by the new policy
    assert run(args + ["--force"]).exit_code == 0
    assert src.read_bytes() != before
    assert load_policy(str(src)).scenarios is not None
    nothing_written(tmp_path, "policy.json")


# --- dynamic-margin ------------------------------------------------------------------------------


def series(annual_vol: float, n: int = 60) -> list[str]:
    """Prices whose log returns alternate +a, -a (a = annual_vol / sqrt(365))."""
    a = annual_vol / math.sqrt(365)
    p, out = 100.0, []
    for i in range(n):
        out.append(f"{p:.10f}")
        p *= math.exp(a if i % 2 == 0 else -a)
    return out


def history(tmp_path: Path, prices: dict, name="history.json", fmt="zkmargin.history/1") -> str:
    doc = {"prices": prices} if fmt is None else {"format": fmt, "prices": prices}
    return write_json(tmp_path / name, doc)


def dyn(policy, hist, out, *extra):
    return ["dynamic-margin", policy, "--history", hist, "--reference-vol", "0.5", "-o", out,
            *extra]


def first_rate(policy, symbol: str) -> Decimal:
    return policy.instrument(symbol).maintenance.brackets[0].rate


def test_dynamic_margin_doubled_volatility_raises_rates(tmp_path):
    calm = history(tmp_path, {"BTCUSDT": series(0.5)}, "calm.json")
    wild = history(tmp_path, {"BTCUSDT": series(1.0)}, "wild.json")
    assert run(dyn(CROSS_POLICY, calm, tmp_path / "calm_policy.json")).exit_code == 0
    r = run(dyn(CROSS_POLICY, wild, tmp_path / "wild_policy.json"))
    assert r.exit_code == 0, r.stderr
    old = load_policy(CROSS_POLICY)
    calm_p = load_policy(str(tmp_path / "calm_policy.json"))
    wild_p = load_policy(str(tmp_path / "wild_policy.json"))
    before = first_rate(old, "BTCUSDT")
    assert first_rate(calm_p, "BTCUSDT") < Decimal("1.1") * before  # multiplier about 1
    assert first_rate(wild_p, "BTCUSDT") >= 2 * before  # multiplier about 2, rounded up
    assert first_rate(wild_p, "ETHUSDT") == first_rate(old, "ETHUSDT")  # no history: unchanged
    assert zkmargin.policy_digest(wild_p) in r.stdout and "BTCUSDT" in r.stdout
    # twin: a history calmer than the reference leaves the rates at the floor multiplier 1
    quiet = history(tmp_path, {"BTCUSDT": series(0.1)}, "quiet.json")
    assert run(dyn(CROSS_POLICY, quiet, tmp_path / "quiet_policy.json")).exit_code == 0
    quiet_p = load_policy(str(tmp_path / "quiet_policy.json"))
    assert first_rate(quiet_p, "BTCUSDT") == before


def test_dynamic_margin_json_is_one_document(tmp_path):
    hist = history(tmp_path, {"BTCUSDT": series(1.0), "SOLUSDT": series(0.5)})
    out = tmp_path / "dyn.json"
    r = run(dyn(CROSS_POLICY, hist, out, "--venue", "dyn-venue", "--json"))
    assert r.exit_code == 0, r.stderr
    doc = json.loads(r.stdout)
    new = load_policy(str(out))
    assert doc["policy_digest"] == zkmargin.policy_digest(new)
    assert doc["previous_policy_digest"] == zkmargin.policy_digest(load_policy(CROSS_POLICY))
    assert doc["venue"] == new.venue == "dyn-venue"
    mult = {i["symbol"]: Decimal(i["multiplier"]) for i in doc["instruments"]}
    assert set(mult) == {"BTCUSDT", "SOLUSDT"}
    assert Decimal(2) <= mult["BTCUSDT"] < Decimal("2.1") and mult["SOLUSDT"] < Decimal("1.1")
    # twin: --max-mult caps the multiplier
    r = run(dyn(CROSS_POLICY, hist, tmp_path / "capped.json", "--max-mult", "1.5", "--json"))
    assert Decimal(json.loads(r.stdout)["instruments"][0]["multiplier"]) == Decimal("1.5")


@pytest.mark.parametrize("fmt, prices, needle", [
    (None, {"BTCUSDT": series(1.0)}, "missing format tag"),
    ("zkmargin.market/1", {"BTCUSDT": series(1.0)}, "expected format 'zkmargin.history/1'"),
    ("zkmargin.history/1", {"DOGEUSDT": series(1.0)}, "no instrument 'DOGEUSDT'"),
    ("zkmargin.history/1", {"BTCUSDT": ["100", "101"]}, "at least 3 prices"),
    ("zkmargin.history/1", {"BTCUSDT": ["100", "0", "101"]}, "prices.BTCUSDT[1]"),
    ("zkmargin.history/1", {"BTCUSDT": ["100", "1e2", "101"]}, "exponent"),
    ("zkmargin.history/1", {}, "non-empty object"),
])
def test_dynamic_margin_bad_history_exit_2(tmp_path, fmt, prices, needle):
    hist = history(tmp_path, prices, fmt=fmt)
    line = one_line_error(run(dyn(CROSS_POLICY, hist, tmp_path / "out.json")), 2, needle)
    assert hist in line
    nothing_written(tmp_path, "history.json")


@pytest.mark.parametrize("policy, extra, needle", [
    (str(DATA / "example_policy_portfolio.json"), [], "rule-based"),
    (CROSS_POLICY, ["--min-mult", "2", "--max-mult", "1.5"], "--max-mult"),
    (CROSS_POLICY, ["--periods-per-year", "0"], "must be > 0"),
])
def test_dynamic_margin_bad_arguments_exit_2(tmp_path, policy, extra, needle):
    hist = history(tmp_path, {"BTCUSDT": series(1.0)})
    one_line_error(run(dyn(policy, hist, tmp_path / "out.json", *extra)), 2, needle)
    nothing_written(tmp_path, "history.json")


def test_dynamic_margin_output_checks(tmp_path):
    hist = history(tmp_path, {"BTCUSDT": series(1.0)})
    one_line_error(run(dyn(CROSS_POLICY, hist, tmp_path / "no" / "out.json")), 2, "does not exist")
    src = tmp_path / "policy.json"
    shutil.copy(CROSS_POLICY, src)
    one_line_error(run(dyn(src, hist, src)), 2, "is the input policy")
    assert src.read_bytes() == Path(CROSS_POLICY).read_bytes()
    nothing_written(tmp_path, "history.json", "policy.json")
    # twin: --force replaces it
    assert run(dyn(src, hist, src, "--force")).exit_code == 0
    assert first_rate(load_policy(str(src)), "BTCUSDT") > first_rate(load_policy(CROSS_POLICY),
                                                                      "BTCUSDT")
