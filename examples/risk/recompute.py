"""Recompute the worked example's VaR, expected shortfall, requirements and zone with numpy alone,
from the files beside this script (no zkmargin import): what a reader checks the venue's and the
prover's figures against.

    python recompute.py

Exact arithmetic: sizes (3 decimals) and per-unit P&L (2 decimals) become integers, so every
loss is an exact integer at 5 decimals in numpy's int64; only the final division by k is a
fraction, rounded up at the policy's 2 decimals as the policy says.
"""

import json
from fractions import Fraction
from pathlib import Path

import numpy as np

HERE = Path(__file__).parent
policy = json.loads((HERE / "policy.json").read_text())
account = json.loads((HERE / "account.json").read_text())
market = json.loads((HERE / "market.json").read_text())

sc = policy["scenarios"]
symbols = [i["symbol"] for i in policy["instruments"]]
k = sc["measure"]["k"]
ds, dp = policy["decimals"]["size"], policy["decimals"]["price"]


def fixed(x: str, d: int) -> int:
    whole, _, frac = x.lstrip("-").partition(".")
    v = int(whole) * 10**d + int((frac + "0" * d)[:d] or 0)
    return -v if x.startswith("-") else v


P = np.array([[fixed(v, dp) for v in sc["pnl"][s]] for s in symbols], dtype=np.int64)  # instruments x scenarios
sizes = {p["symbol"]: p["size"] for p in account["positions"]}
q = np.array([fixed(sizes.get(s, "0"), ds) for s in symbols], dtype=np.int64)
losses = -(q @ P)  # exact, at ds + dp = 5 decimals
order = np.argsort(-losses, kind="stable")
top = losses[order[:k]]
scale = 10 ** (ds + dp)


def up_cents(x: Fraction) -> Fraction:
    return Fraction(-((-x * 100).numerator // (-x * 100).denominator), 100)


var_k = Fraction(int(top[-1]), scale)
es_k = Fraction(int(top.sum()), k * scale)
mm = up_cents(max(Fraction(0), es_k) * Fraction(sc["factor"]))
im = up_cents(max(Fraction(0), es_k) * Fraction(sc["initial_factor"]))
collateral = sum(Fraction(v) * (1 if a == "USD" else Fraction(market["prices"][a]) * (1 - Fraction("0.05")))
                 for a, v in account["balances"].items())
upnl = sum(Fraction(p["size"]) * (Fraction(market["prices"][p["symbol"]]) - Fraction(p["entry_price"]))
           for p in account["positions"])
equity = collateral + upnl
ladder = [(z["name"], z.get("requirement"), Fraction(z["ratio"]) if "ratio" in z else None) for z in policy["zones"]]
thresholds = [None if r is None else r * (mm if kind == "maintenance" else im) for _, kind, r in ladder]
zone = next(name for (name, _, _), t in zip(ladder, thresholds) if t is None or equity >= t)


def show(x: Fraction) -> str:
    return f"{float(x):,.5f}".rstrip("0").rstrip(".")


print(f"scenarios: {losses.size}, k = {k}")
print(f"{k} largest losses: " + ", ".join(show(Fraction(int(v), scale)) for v in top))
print(f"VaR_{k} (the {k}th largest loss): {show(var_k)}")
print(f"ES_{k} (their mean): {show(es_k)}")
print(f"maintenance = ES x {sc['factor']}, rounded up to cents: {show(mm)}")
print(f"initial = ES x {sc['initial_factor']}, rounded up to cents: {show(im)}")
print(f"equity: {show(equity)}; health equity/maintenance: {float(equity / mm):.6f}")
print("zones: " + ", ".join(f"{n} >= {show(t)}" if t is not None else n for (n, _, _), t in zip(ladder, thresholds)))
print(f"the account is in zone: {zone}")
