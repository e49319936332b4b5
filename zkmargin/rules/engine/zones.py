"""Margin-call zones in clear text: the policy's ladder evaluated for one account.

The ladder (``policy.zones``, :mod:`zkmargin.rules.models.risk`) lists zones from the best down.
Rung ``z`` (all but the last) has the threshold

    θ_z = ratio_z · REQ_{kind_z} + T

(``REQ_maintenance`` and ``REQ_initial`` are the account's requirements under the policy's rules,
rounded as it says; ``T`` the threshold of the statement), and the account is in the first zone
whose threshold its equity meets:

    zone = min { z : equity ≥ θ_z }       (the last zone when it meets none)

The health ratio ``equity / REQ`` is bounded by a rung the same way: ``equity ≥ ratio · REQ``.
The policy's ``buffer`` plays no part here (each rung's ratio is its own buffer).

May import the other engine modules, :mod:`zkmargin.rules.decimals` and
:mod:`zkmargin.rules.models`. Used by :mod:`.report` (the report's ``zone``), the zone proofs, the
plots and the tests.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal, localcontext
from typing import Any

from ...errors import InputError
from ..decimals import EXACT, Number, canonical
from ..models import Account, DocumentSource, Market, Policy

__all__ = ["ZoneReport", "zone_report", "zone_index", "zone_thresholds"]


@dataclass
class ZoneReport:
    """The account's zone on the policy's ladder, with every rung's threshold."""

    index: int
    name: str
    equity: Decimal
    requirements: dict[str, Decimal]
    thresholds: list[Decimal | None]
    names: list[str]

    def to_json_dict(self) -> dict[str, Any]:
        return {
            "index": self.index,
            "name": self.name,
            "ladder": [{"name": n, "threshold": None if t is None else canonical(t)}
                       for n, t in zip(self.names, self.thresholds)],
        }


def kind_policy(policy: Policy, kind: str) -> Policy:
    """The policy with ``kind`` as its requirement, no buffer and no zones (what one rung reads)."""
    return policy.model_copy(update={"requirement": kind, "buffer": Decimal(0), "zones": None})


def zone_thresholds(policy: Policy, requirements: dict[str, Decimal],
                    threshold: Number) -> list[Decimal | None]:
    """``θ_z`` for every rung (``None`` for the last)."""
    assert policy.zones is not None
    t = Decimal(threshold)
    out: list[Decimal | None] = []
    with localcontext(EXACT):
        for rung in policy.zones:
            if rung.requirement is None or rung.ratio is None:
                out.append(None)
            else:
                out.append(rung.ratio * requirements[rung.requirement] + t)
    return out


def zone_index(equity: Decimal, thresholds: list[Decimal | None]) -> int:
    """The first rung whose threshold ``equity`` meets (the last one meets every account)."""
    for z, th in enumerate(thresholds):
        if th is None or equity >= th:
            return z
    return len(thresholds) - 1


def zone_report(account: Account | DocumentSource, market: Market | DocumentSource,
                policy: Policy | DocumentSource, threshold: Number = 0) -> ZoneReport:
    """The account's zone on ``policy.zones`` (an :class:`InputError` when it declares none)."""
    from ..models import load_policy
    from .report import check

    policy = load_policy(policy)
    if policy.zones is None:
        raise InputError("the policy declares no margin-call zones", field="zones")
    kinds = sorted({r.requirement for r in policy.zones if r.requirement is not None})
    requirements: dict[str, Decimal] = {}
    equity = Decimal(0)
    for kind in kinds:
        rep = check(account, market, kind_policy(policy, kind), threshold)
        requirements[kind] = rep.requirement
        equity = rep.equity
    ths = zone_thresholds(policy, requirements, threshold)
    z = zone_index(equity, ths)
    return ZoneReport(z, policy.zones[z].name, equity, requirements, ths, [r.name for r in policy.zones])
