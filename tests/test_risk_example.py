"""The worked ES/VaR example (examples/risk): numpy's figures (recompute.py, no zkmargin) are the
README's and the engine's, and the published table regenerates from its recorded source and the
example's input files (a changed input is caught: twin)."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from decimal import Decimal
from pathlib import Path

from zkmargin import check
from zkmargin.rules.models import load_policy
from zkmargin.rules.scenario_sources import check_regenerates, file_digest, load_stress

EX = Path(__file__).resolve().parent.parent / "examples" / "risk"


def _recompute() -> str:
    p = subprocess.run([sys.executable, str(EX / "recompute.py")], capture_output=True, text=True, timeout=120)
    assert p.returncode == 0, p.stderr
    return p.stdout


def test_numpy_figures_are_the_readmes_and_the_engines():
    out = _recompute()
    readme = (EX / "README.md").read_text()
    block = re.search(r"```\n(scenarios: .*?)```", readme, re.S)
    assert block and block.group(1) == out
    rep = check(EX / "account.json", EX / "market.json", EX / "policy.json")
    assert rep.requirement == Decimal("10059.52") and "maintenance = ES x 1, rounded up to cents: 10,059.52" in out
    assert rep.equity == Decimal("12886.25") and f"health equity/maintenance: {rep.health}" in out
    assert rep.zone["name"] == "margin_call" and out.rstrip().endswith("zone: margin_call")
    init = check(EX / "account.json", EX / "market.json",
                 load_policy(EX / "policy.json").model_copy(update={"requirement": "initial"}))
    assert init.requirement == Decimal("12574.39")


def test_the_published_table_regenerates_from_its_source():
    pol = load_policy(EX / "policy.json")
    src = pol.scenarios.source
    assert src.inputs["history"] == file_digest(EX / "history.json")
    assert src.inputs["stress"] == file_digest(EX / "stress.json")
    history = json.loads((EX / "history.json").read_text())["prices"]
    stress = load_stress(EX / "stress.json")
    assert check_regenerates(pol, EX / "market.json", history=history, stress=stress) == []
    history["ETH-PERP"][-5] = "3000.00"
    assert check_regenerates(pol, EX / "market.json", history=history, stress=stress)
