"""Provability at load: a policy whose widths and scales would make its margin circuit wrap around
the group order, or need more gates than there are generators, is refused when it is loaded, with
one line naming the field and the limit — not when a proof is attempted (``bits.amount: 120``
used to pass ``check`` and fail ``prove`` with a 282-character line of digits).

The check is an upper bound, computed from the policy alone, of the magnitude of the circuit's
final comparison ``E·10^· − (1+b)·REQ·10^· − T·10^·`` and of every term in it, with every private
value at the end of its width and every price at the end of the price width (``2^bits.price − 1``);
each range check in the circuit is over a combination no larger than that. It must stay below
``2^RANGE_LIMIT_BITS``. Prices above the price width, and thresholds, are checked when the circuit
is built (:mod:`zkmargin.provability`), with the same kind of message.

The gate count is bounded from *below* (a policy refused here could never be proved; one that
passes may still be refused when the circuit is built with the market, by its exact count):
``Σ_i (bits.size + 2) + Σ_j bits.amount`` for the per-instrument layout, plus, in portfolio mode,
``bits(max_s Σ_i S·|pnl_{i,s}|)`` per scenario (each scenario's range check is at least as wide as
the worst loss's); with K position slots, ``K`` gates per scenario.

May import :mod:`.fields`, :mod:`zkmargin.rules.decimals` and :mod:`zkmargin.errors`. Used by
:mod:`.policy_checks` and :mod:`zkmargin.provability`.
"""

from __future__ import annotations

from decimal import Decimal
from math import isqrt
from typing import TYPE_CHECKING

from ...errors import PolicyError
from ..decimals import to_fixed
from .fields import MIN_BITS

if TYPE_CHECKING:
    from .policy import Policy, Rule

#: The widest range check the circuit builder makes (``zkmargin.circuits.gadgets.MAX_RANGE_BITS``),
#: less one bit: every range-checked combination must stay below ``2^RANGE_LIMIT_BITS`` in
#: magnitude (a test pins it against the builder's constant).
RANGE_LIMIT_BITS = 249

#: Proofs are capped at this many multiplication gates, padded: the number of Pedersen generators
#: (``zkmargin.crypto.generators.MAX_GENERATORS``, pinned by a test).
MAX_GATES = 1 << 18


def _p10(k: int) -> int:
    return int(10 ** max(0, k))


def _rate(d: Decimal | None, dr: int) -> int:
    return 0 if d is None else to_fixed(d, dr)


def _rule_rates(rule: Rule, dr: int, da: int) -> tuple[str, int, int, int]:
    """``(kind, largest rate at dr, per_size at dr, largest amount at da+dr)``, fee included."""
    fee = _rate(rule.fee_to_close, dr)
    kind = rule.kind
    if kind in ("leverage", "open_interest"):
        return "ratio", 10**dr + fee, 0, 0
    if kind == "brackets":
        assert rule.brackets is not None
        rmax = max(_rate(b.rate, dr) for b in rule.brackets) + fee
        coef = rule.notional_coef if rule.notional_coef is not None else Decimal(1)
        caps = [b.cap for b in rule.brackets if b.cap is not None] + [b.floor for b in rule.brackets]
        # amounts of the recursion are below the last floor times the top rate
        amax = int(max(caps) * coef * rmax * 10**da) + 1
        return "brackets", rmax, 0, amax
    return kind, _rate(rule.rate, dr) + fee, _rate(rule.per_size, dr), 0


def statement_bound(p: Policy, sb: int, pb: int, ab: int, prices: dict[str, Decimal] | None = None,
                    threshold: Decimal = Decimal(0)) -> int:
    """An upper bound of the magnitude of the circuit's final comparison (and so of every
    combination it range-checks) at widths ``sb, pb, ab`` and the policy's scales."""
    d = p.decimals
    ds, dp, dr, da = d.size, d.price, d.rate, d.amount
    S, Pw, A = (1 << sb) - 1, (1 << pb) - 1, (1 << ab) - 1

    def price(key: str) -> int:
        if prices is None or key not in prices:
            return 10**dp if key == p.quote and prices is not None else Pw
        return abs(to_fixed(prices[key], dp))

    n = len(p.instruments)
    rules = []
    SR = ds + dp + dr
    for ins in p.instruments:
        if p.mode == "portfolio":
            continue
        kind, r, ps, amax = _rule_rates(ins.rule(p.requirement), dr, da)
        rules.append((ins.symbol, kind, r, ps, amax))
        if kind == "brackets":
            SR = max(SR, da + dr)
        if kind == "linear":
            SR = max(SR, 2 * ds + dp + dr)
    if p.mode == "unified":
        SR = max(SR, da + dp + dr)
    Z = max(SR + dr, da + dp + dr, ds + dp, da)
    req = 0
    for sym, kind, r, ps, amax in rules:
        M = price(sym)
        if kind == "linear":
            x = M * (r * 10**ds * S + ps * S * S) * _p10(SR - 2 * ds - dp - dr)
        else:
            x = S * M * r * _p10(SR - ds - dp - dr) + amax * _p10(SR - da - dr)
        req += 2 * x + _p10(SR)  # rounding may add up to one unit of its scale
    if p.mode == "portfolio" and p.scenarios is not None:
        worst = max((sum(S * abs(to_fixed(row[s], dp)) for row in p.scenarios.pnl.values())
                     for s in range(len(p.scenarios.names))), default=0)
        factor = max(_rate(p.scenarios.factor, dr), _rate(p.scenarios.initial_factor, dr))
        req += 2 * worst * factor * _p10(SR - ds - dp - dr) + _p10(SR)
    equity = 0
    for c in p.collateral:
        M = price(c.asset)
        w = 10**dr
        if p.mode == "unified":
            lw = max(_rate(c.liability_weight, dr), w)
            if c.imf is not None:
                root = isqrt(10 * A * 10 ** max(0, 9 - da) + 1) + 1
                lw += root * to_fixed(c.imf, 6) // _p10(11 - dr) + 1
            w = max(w, lw)
            req += A * M * _rate(c.loan_rate, dr)
        equity += 2 * A * M * w * _p10(Z - da - dp - dr)
        if c.tiers is not None:  # the tiers' intercepts are constants below the last finite end
            ends = [t.up_to for t in c.tiers if t.up_to is not None]
            if ends:
                equity += int(max(ends) * 10**da) * 10**dr * 10**dp * _p10(Z - da - dp - dr)
    pnl = (n * S * max([price(i.symbol) for i in p.instruments], default=0) + 2 * n * S * Pw)
    equity += pnl * _p10(Z - ds - dp) * (10**dr if p.mode == "unified" else 1)
    if p.mode == "isolated":
        equity += n * A * _p10(Z - da)
    one_b = _p10(dr) + _rate(p.buffer, dr)  # dr >= 0
    t = abs(to_fixed(threshold, da)) * _p10(Z - da)
    return req * one_b * _p10(Z - SR - dr) + equity + t


def gates_lower_bound(p: Policy) -> int:
    """A lower bound of the circuit's multiplication gates (see the module docstring)."""
    n_scen = len(p.scenarios.names) if p.mode == "portfolio" and p.scenarios is not None else 0
    if p.slots:
        return n_scen * p.slots
    S = (1 << p.bits.size) - 1
    out = len(p.instruments) * (p.bits.size + 2) + len(p.collateral) * p.bits.amount
    if n_scen:
        assert p.scenarios is not None
        dp = p.decimals.price
        worst = max(sum(S * abs(to_fixed(row[s], dp)) for row in p.scenarios.pnl.values())
                    for s in range(n_scen))
        out += n_scen * max(1, worst.bit_length())
    return out


def _fits(p: Policy, sb: int, pb: int, ab: int, prices: dict[str, Decimal] | None = None,
          threshold: Decimal = Decimal(0)) -> bool:
    return statement_bound(p, sb, pb, ab, prices, threshold).bit_length() <= RANGE_LIMIT_BITS


def suggest(p: Policy, prices: dict[str, Decimal] | None = None,
            threshold: Decimal = Decimal(0)) -> tuple[str, str]:
    """``(field, message)`` for a policy whose statement does not fit: the width whose smallest
    reduction makes it fit, or the decimals when no width alone does."""
    b = p.bits
    need = statement_bound(p, b.size, b.price, b.amount, prices, threshold).bit_length()
    best: tuple[int, str, int] | None = None
    for name in ("size", "price", "amount"):
        cur = getattr(b, name)
        widths = {"size": b.size, "price": b.price, "amount": b.amount}
        for v in range(cur - 1, MIN_BITS - 1, -1):
            widths[name] = v
            if _fits(p, widths["size"], widths["price"], widths["amount"], prices, threshold):
                if best is None or cur - v < best[0]:
                    best = (cur - v, name, v)
                break
    head = (f"the margin circuit's largest quantity needs {need} bits with these widths and "
            f"decimals; its range checks stop at {RANGE_LIMIT_BITS} bits")
    if best is None:
        return "decimals", head + ": lower the decimals (no width alone makes it fit)"
    _, name, v = best
    return f"bits.{name}", head + f": at most {v} for bits.{name} with the others as they are"


def check_provable(p: Policy, source: str | None = None) -> None:
    """Refuse (one-line :class:`PolicyError`) a policy whose circuit would wrap or exceed the
    generator cap, whatever the market within the price width."""
    b = p.bits
    if not _fits(p, b.size, b.price, b.amount):
        field, message = suggest(p)
        raise PolicyError(message, source=source, field=field)
    low = gates_lower_bound(p)
    if low > MAX_GATES:
        field = "scenarios.names" if p.mode == "portfolio" else ("slots" if p.slots else "instruments")
        raise PolicyError(f"the margin circuit would need at least {low:,} multiplication gates; "
                          f"proofs are capped at {MAX_GATES:,} (the generators)", source=source,
                          field=field)
