"""Build examples/portfolio/market.json and policy.json: a portfolio-margin venue's side.

The venue lists perpetuals, a dated future and options on BTC and ETH, prices the options with
Black-Scholes at the implied volatilities below (the market snapshot), and publishes the CME SPAN
16-scenario risk array (price scan range 15 % for BTC, 18 % for ETH, volatility scan range 25
points, one-day look-ahead, extremes at 3x with 35 % cover) computed with zkmargin.rules.scenarios and
frozen as decimals at the policy's price scale. Prover, verifier and auditor all use these exact
numbers; floats never reach the proof.

    python examples/portfolio/build_policy.py      # rewrites market.json and policy.json

Deterministic: running it again gives the same files.
"""

from __future__ import annotations

import copy
import json
from decimal import Decimal
from pathlib import Path

from zkmargin.rules.models import write_document
from zkmargin.rules.scenarios import black_scholes, build_scenarios, year_fraction

HERE = Path(__file__).resolve().parent
AS_OF = "2024-06-03T08:00:00Z"
EXPIRY = "2024-12-27T08:00:00Z"
SPOT = {"BTCUSDT": "67250.4", "ETHUSDT": "3480.15"}
FUTURES = {"BTCUSDT-20241227": ("BTCUSDT", "69120.5")}
VOLS = {"BTCUSDT": 0.55, "ETHUSDT": 0.62}
OPTIONS = [  # (underlying, strike, right)
    ("BTCUSDT", "60000", "put"), ("BTCUSDT", "65000", "put"),
    ("BTCUSDT", "70000", "call"), ("BTCUSDT", "75000", "call"),
    ("ETHUSDT", "3200", "put"), ("ETHUSDT", "3800", "call"),
]
PRICE_DECIMALS = 4


def option_symbol(under: str, strike: str, right: str) -> str:
    return f"{under[:-4]}-20241227-{strike}-{right[0].upper()}"


def base_policy() -> dict:
    instruments = [{"symbol": s, "kind": "perpetual"} for s in SPOT]
    instruments += [{"symbol": s, "kind": "future", "expiry": EXPIRY} for s in FUTURES]
    instruments += [{"symbol": option_symbol(u, k, r), "kind": "option", "underlying": u,
                     "strike": k, "expiry": EXPIRY, "right": r} for u, k, r in OPTIONS]
    return {
        "format": "zkmargin.policy/1",
        "venue": "example-venue-portfolio",
        "quote": "USDT",
        "decimals": {"size": 3, "price": PRICE_DECIMALS, "rate": 4, "amount": 8},
        "bits": {"size": 64, "price": 48, "amount": 64},
        "requirement": "maintenance",
        "mode": "portfolio",
        "buffer": "0",
        "collateral": [
            {"asset": "USDT", "haircut": "0"},
            {"asset": "BTC", "tiers": [{"up_to": "500000", "haircut": "0.05"},
                                       {"up_to": "5000000", "haircut": "0.1"},
                                       {"up_to": None, "haircut": "0.25"}]},
            {"asset": "ETH", "haircut": "0.1"},
        ],
        "instruments": instruments,
        "rounding": {"mode": "up", "decimals": 2},
        "notes": ("Portfolio (SPAN-style) margin: the requirement is the worst loss of the whole "
                  "book over the 16 CME SPAN scenarios (price scan range 15% BTC, 18% ETH; "
                  "volatility scan range 25 points; 1-day look-ahead; extreme moves at 3x range "
                  "with 35% cover), built by examples/portfolio/build_policy.py with "
                  "zkmargin.scenarios and frozen at the price scale. Illustrative numbers."),
    }


def market() -> dict:
    prices = dict(SPOT)
    prices.update({s: p for s, (_u, p) in FUTURES.items()})
    t = year_fraction(AS_OF, EXPIRY)
    unit = Decimal(1).scaleb(-PRICE_DECIMALS)
    for u, k, r in OPTIONS:
        value = float(black_scholes([float(SPOT[u])], float(k), t, VOLS[u], r)[0])
        prices[option_symbol(u, k, r)] = str(Decimal(value).quantize(unit))
    prices.update({"USDT": "1", "BTC": "67240", "ETH": "3479.5"})
    return {"format": "zkmargin.market/1", "as_of": AS_OF, "prices": prices}


def policy(mkt: dict) -> dict:
    base = base_policy()
    shocks = {s: 0.15 for s in ("BTCUSDT", *FUTURES)}
    shocks["ETHUSDT"] = 0.18
    doc = copy.deepcopy(base)
    doc["scenarios"] = build_scenarios(base, mkt, "span", factor="1", initial_factor="1.5",
                                       spot_shocks=shocks, vol_shocks=0.25, vols=VOLS,
                                       horizon_days=1)
    return doc


def main(out: Path = HERE) -> None:
    mkt = market()
    write_document(mkt, out / "market.json")
    write_document(policy(mkt), out / "policy.json")


if __name__ == "__main__":
    main()
    print(json.dumps({"wrote": [str(HERE / "market.json"), str(HERE / "policy.json")]}))
