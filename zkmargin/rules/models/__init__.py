"""The three documents as pydantic models, and their loaders: the policy (public, the venue's), the
market snapshot (public) and the account (private, the trader's). One module per document kind:

    fields.py         field types (exact decimals, integers, keys), format tags, default widths
    documents.py      reading JSON exactly, format tags, one-line errors naming file and field,
                      timestamps, canonical dumps and atomic writes
    policy.py         the policy's shape: scales, widths, rules, collateral, scenarios, slots
    trust.py          the policy's trust section (custodians, freshness, challenges)
    span.py           the policy's span section (CME SPAN: combined commodities, spreads, SOM)
    deribit_pme.py    the policy's deribit_pme section (Deribit PME add-ons and rounding)
    policy_checks.py  what a policy means (scales, bracket recursion, tiers, widths) and its loaders
    market.py         the market snapshot and its loaders
    account.py        the account and its loaders
    coverage.py       hedge legs, inverse contracts, option rules, open orders, liquidation convention

Loading happens in two steps: pydantic checks the shape (types, required and unknown fields), then
``validate_*`` checks the meaning and normalizes the model (bracket amounts filled in from the
recursion, ``initial_factor`` filled in, timestamps in UTC), so that two documents with the same
content give the same model and the same digest. The exact format is ``docs/formats.md``.

Every failure is one of the errors of :mod:`zkmargin.errors`, one line, naming the file (``source``)
and the field (``positions[2].size``, ``instruments[0].maintenance.brackets[3].amount``). No pydantic
``ValidationError`` escapes. Messages about an account never contain its values.

May import :mod:`zkmargin.rules.decimals`, :mod:`zkmargin.files` and :mod:`zkmargin.errors`. Used by
the engine, the circuits' plans, the API, the workflows and the CLI, through the names below.
"""

from __future__ import annotations

from .account import Account, Position, load_account, parse_account, validate_account
from .deribit_pme import DeribitPme
from .documents import (
    DocumentSource,
    check_format_tag,
    dump_document,
    parse_timestamp,
    write_document,
)
from .fields import ACCOUNT_FORMAT, DEFAULT_BITS, MARKET_FORMAT, POLICY_FORMAT, SLOT_KINDS
from .market import Market, load_market, parse_market, price_of, validate_market
from .policy import (
    Bits,
    Bracket,
    Collateral,
    Instrument,
    Policy,
    Rounding,
    Rule,
    Scales,
    Scenarios,
    Tier,
)
from .policy_checks import bracket_amounts, load_policy, parse_policy, validate_policy
from .span import Span
from .trust import Custodian, Trust

__all__ = [
    "POLICY_FORMAT",
    "MARKET_FORMAT",
    "ACCOUNT_FORMAT",
    "DEFAULT_BITS",
    "Scales",
    "Bits",
    "Bracket",
    "Rule",
    "Tier",
    "Collateral",
    "Instrument",
    "Scenarios",
    "Rounding",
    "Custodian",
    "Trust",
    "Span",
    "DeribitPme",
    "SLOT_KINDS",
    "Policy",
    "Market",
    "Position",
    "Account",
    "load_policy",
    "load_market",
    "load_account",
    "parse_policy",
    "parse_market",
    "parse_account",
    "validate_policy",
    "validate_market",
    "validate_account",
    "bracket_amounts",
    "price_of",
    "check_format_tag",
    "dump_document",
    "write_document",
    "parse_timestamp",
    "DocumentSource",
]
