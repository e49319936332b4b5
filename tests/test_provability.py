"""Provability at load (issue 15, item 8): a policy whose circuit would wrap or need more gates than
there are generators is refused when it is loaded, in one line naming the field and the limit;
``scenarios`` checks the circuit it is about to produce before writing anything."""

from __future__ import annotations

import json
import re
from decimal import Decimal as D
from pathlib import Path

import pytest
from click.testing import CliRunner

from zkmargin import check
from zkmargin.circuits.gadgets import MAX_RANGE_BITS
from zkmargin.circuits.provable import check_circuit
from zkmargin.crypto.generators import MAX_GENERATORS
from zkmargin.errors import InputError, OverflowRiskError, PolicyError
from zkmargin.rules.models import load_policy
from zkmargin.rules.models.provability import MAX_GATES, RANGE_LIMIT_BITS, gates_lower_bound

EX = Path(__file__).resolve().parent.parent / "examples"
DIGITS = re.compile(r"\d{30}")


def _cross(**bits) -> dict:
    p = json.loads((EX / "cross" / "policy.json").read_text())
    p["bits"].update(bits)
    return p


def test_limits_are_the_builders_and_the_generators():
    assert RANGE_LIMIT_BITS == MAX_RANGE_BITS - 1
    assert MAX_GATES == MAX_GENERATORS


def test_widths_that_would_wrap_are_refused_at_load_in_one_line():
    """bits.size 120 (the documented maximum) with the example's size-scaled rule: |q|² alone is
    240 bits. It used to pass ``check`` and fail ``prove`` with a line of digits."""
    with pytest.raises(PolicyError) as info:
        load_policy(_cross(size=120))
    e = info.value
    assert e.field == "bits.size" and "at most 93 for bits.size" in e.message
    assert len(e.one_line()) < 300 and not DIGITS.search(e.one_line())
    account, market = EX / "cross" / "account.json", EX / "cross" / "market.json"
    with pytest.raises(PolicyError):
        check(account, market, _cross(size=120))
    # twin: the width it names loads, and its circuit builds
    p = _cross(size=93)
    assert check_circuit(p, market) > 0
    assert check(account, market, p).meets


def test_prices_beyond_the_width_and_huge_thresholds_are_refused_when_the_circuit_is_built():
    """The load-time bound assumes prices within the price width; a snapshot beyond it is checked
    by building the circuit: one line, no digits. A threshold the amount scale cannot carry is an
    input error on the threshold."""
    pol = _cross(size=93)
    market = json.loads((EX / "cross" / "market.json").read_text())
    big = dict(market, prices={k: v if k == "USDT" else format(D(v) * 10**28, "f") for k, v in market["prices"].items()})
    with pytest.raises(PolicyError) as info:
        check_circuit(pol, big)
    assert not DIGITS.search(info.value.one_line()) and "at this market snapshot" in info.value.message
    # refused naming the threshold (exit 2): by the plan's guard on public numbers
    # (circuits/margin/public_numbers.py) or by the amount scale's bound, whichever comes first
    with pytest.raises((InputError, OverflowRiskError)) as info2:
        check_circuit(pol, market, D(10) ** 70)
    assert info2.value.field == "threshold"
    assert check_circuit(pol, market) > 0  # twin


def _portfolio(n_scenarios: int) -> dict:
    p = json.loads((EX / "portfolio" / "policy.json").read_text())
    sc = p["scenarios"]
    names = [f"s{k}" for k in range(n_scenarios)]
    sc["names"] = names
    sc["pnl"] = {sym: [row[k % len(row)] for k in range(n_scenarios)] for sym, row in sc["pnl"].items()}
    return p


def test_too_many_scenarios_are_refused_at_load():
    big = _portfolio(4000)
    with pytest.raises(PolicyError) as info:
        load_policy(big)
    assert info.value.field == "scenarios.names" and f"{MAX_GATES:,}" in info.value.message
    assert gates_lower_bound(load_policy(_portfolio(16))) <= MAX_GATES  # twin


def test_scenarios_command_checks_the_gates_before_writing(tmp_path):
    from zkmargin.cli.main import cli

    pol = json.loads((EX / "portfolio" / "policy.json").read_text())
    pol["instruments"] = [i for i in pol["instruments"] if i["kind"] != "option"][:1]
    pol.pop("scenarios", None)
    src = tmp_path / "p.json"
    src.write_text(json.dumps(pol))
    out = tmp_path / "out.json"
    args = ["scenarios", str(src), "--market", str(EX / "portfolio" / "market.json"), "-o", str(out),
            "--grid", "deribit", "--json", "--levels"]
    r = CliRunner().invoke(cli, args + ["1600"])
    assert r.exit_code == 2 and not out.exists()
    assert "scenarios.names" in r.output and f"{MAX_GATES:,}" in r.output
    r = CliRunner().invoke(cli, args + ["9"])  # twin
    assert r.exit_code == 0, r.output
    doc = json.loads(r.output)
    assert out.exists() and 0 < doc["gates"] <= MAX_GATES


@pytest.mark.parametrize("example", ["cross", "isolated", "portfolio"])
def test_every_width_the_loader_accepts_builds(example):
    """Widths at the documented ends (64 and 120 bits each, the amount at 8 and 18 decimals):
    whatever the loader accepts, the verifier's circuit builds at the example's market; whatever
    it refuses, it refuses in one line naming a width or the decimals."""
    from itertools import product

    market = EX / example / "market.json"
    accepted = refused = 0
    for size, price, amount, da in product((64, 120), (48, 120), (64, 120), (8, 18)):
        p = json.loads((EX / example / "policy.json").read_text())
        p["bits"] = {"size": size, "price": price, "amount": amount}
        p["decimals"]["amount"] = da
        try:
            load_policy(p)
        except PolicyError as e:
            refused += 1
            assert e.field and (e.field.startswith("bits.") or e.field == "decimals")
            assert not DIGITS.search(e.one_line())
            continue
        accepted += 1
        assert check_circuit(p, market) > 0
    assert accepted and refused
