"""Pictures, rendered in the suite: ``check --plot`` (equity and requirement against price shocks,
the liquidation price and the zones) and the loss distribution with its VaR/ES cut-offs. The
numbers drawn are the engine's: the liquidation price read off the curve is the engine's own
Binance formula's, the cut-offs are the engine's VaR and ES.
"""

from __future__ import annotations

import json
import sys
from decimal import Decimal
from pathlib import Path

import pytest
from click.testing import CliRunner

sys.path.insert(0, str(Path(__file__).parent))

import margin_strategies as S  # noqa: E402

pytest.importorskip("matplotlib")

from zkmargin import check  # noqa: E402
from zkmargin.cli.main import cli  # noqa: E402
from zkmargin.errors import InputError, MissingExtraError  # noqa: E402
from zkmargin.plots import account_curves, plot_account, plot_losses  # noqa: E402
from zkmargin.rules.engine import risk_measure, scenario_losses  # noqa: E402
from zkmargin.rules.models import load_account, load_market, load_policy  # noqa: E402

PNG = b"\x89PNG\r\n\x1a\n"


def one_perp() -> dict:
    """One long flat-rate perpetual on thin collateral: a liquidation price the engine knows."""
    case = S.base_case("cross", "0")
    case["account"] = {"format": "zkmargin.account/1", "balances": {"USD": "300"},
                       "positions": [{"symbol": "C", "size": "300", "entry_price": "12.34"}]}
    case["policy"]["zones"] = [{"name": "healthy", "requirement": "initial", "ratio": "1.2"},
                               {"name": "margin_call", "requirement": "maintenance", "ratio": "1"},
                               {"name": "liquidation"}]
    return case


def test_account_picture_marks_the_engines_liquidation_price(tmp_path):
    case = one_perp()
    rep = check(case["account"], case["market"], case["policy"], 0)
    lp = rep.positions[0].liquidation_price  # Binance's formula, solved exactly
    out = tmp_path / "account.png"
    drawn = plot_account(case["account"], case["market"], case["policy"], out)
    assert out.read_bytes().startswith(PNG) and out.stat().st_size > 10_000
    assert Decimal(drawn["C"]["liquidation_price"]) == pytest.approx(lp, abs=Decimal("0.02"))
    svg = tmp_path / "account.svg"
    plot_account(case["account"], case["market"], case["policy"], svg)
    text = svg.read_text()
    assert text.lstrip().startswith("<?xml") and "liquidation" in text and "margin_call" in text


def test_curves_are_the_engines_answers_at_shocked_marks():
    case = one_perp()
    p = load_policy(case["policy"])
    m = load_market(case["market"], p)
    a = load_account(case["account"], p)
    c = account_curves(a, m, p, "C", [-0.1, 0.0, 0.1])
    assert c["mark"] == [11.11, 12.34, 13.57]
    shocked = dict(case["market"])
    shocked["prices"] = dict(case["market"]["prices"], C="11.11")
    rep = check(case["account"], shocked, {**case["policy"], "zones": None, "buffer": "0"}, 0)
    assert c["equity"][0] == float(rep.equity) and c["maintenance"][0] == float(rep.requirement)
    assert len(c["zones"][0]) == 3 and c["zones"][0][2] is None


def test_loss_picture_cut_offs_are_the_engines_var_and_es(tmp_path):
    case = S.base_case("portfolio")
    case["policy"]["scenarios"]["measure"] = {"kind": "expected_shortfall", "k": 2}
    out = tmp_path / "losses.png"
    cut = plot_losses(case["policy"], out, account=case["account"])
    assert out.read_bytes().startswith(PNG)
    p = load_policy(case["policy"])
    losses = scenario_losses(p.scenarios, {"A": Decimal(-4), "O": Decimal(6), "P": Decimal("-2.5")})
    assert cut["account"] == {"var": float(risk_measure("var", 2, losses)),
                              "es": float(risk_measure("expected_shortfall", 2, losses)), "k": 2}
    assert cut["account"]["es"] == 2.125


def test_refusals_bad_format_no_position_no_matplotlib(tmp_path, monkeypatch):
    case = one_perp()
    with pytest.raises(InputError, match=r"\.png or \.svg"):
        plot_account(case["account"], case["market"], case["policy"], tmp_path / "a.jpg")
    empty = {"format": "zkmargin.account/1", "balances": {"USD": "1"}}
    with pytest.raises(InputError, match="no position"):
        plot_account(empty, case["market"], case["policy"], tmp_path / "a.png")
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    with pytest.raises(MissingExtraError, match=r"zkmargin\[plot\]"):
        plot_account(case["account"], case["market"], case["policy"], tmp_path / "b.png")
    assert not (tmp_path / "b.png").exists()


def test_check_and_scenarios_commands_draw(tmp_path):
    case = one_perp()
    paths = {}
    for k in ("policy", "market", "account"):
        paths[k] = tmp_path / f"{k}.json"
        paths[k].write_text(json.dumps(case[k]))
    pic = tmp_path / "check.svg"
    r = CliRunner().invoke(cli, ["check", str(paths["account"]), "-m", str(paths["market"]), "-p",
                                 str(paths["policy"]), "--plot", str(pic)])
    assert r.exit_code == 0, r.output
    assert pic.exists() and "margin-call zone" in r.stdout
    r = CliRunner().invoke(cli, ["check", str(paths["account"]), "-m", str(paths["market"]), "-p",
                                 str(paths["policy"]), "--plot", str(tmp_path / "x.gif")])
    assert r.exit_code == 2 and ".png or .svg" in r.stderr
    pcase = S.base_case("portfolio")
    for k in ("policy", "market", "account"):
        (tmp_path / f"p{k}.json").write_text(json.dumps(pcase[k]))
    r = CliRunner().invoke(cli, ["scenarios", str(tmp_path / "ppolicy.json"), "-m", str(tmp_path / "pmarket.json"),
                                 "-o", str(tmp_path / "span.json"), "--vol", "0.6", "--plot",
                                 str(tmp_path / "span.png"), "--plot-account", str(tmp_path / "paccount.json")])
    assert r.exit_code == 0, r.output
    assert (tmp_path / "span.png").read_bytes().startswith(PNG)
