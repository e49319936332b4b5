"""Canonical bytes and digests: stable under reformatting, different under any value change."""

import copy
import hashlib
import json
import random
from decimal import Decimal
from importlib import resources

from hypothesis import given, settings
from hypothesis import strategies as st

from zkmargin.rules.decimals import loads_json
from zkmargin.rules.digests import (
    account_digest,
    canonical_bytes,
    digest,
    market_digest,
    policy_digest,
)
from zkmargin.rules.models import load_account, load_market, load_policy, parse_account

DATA = resources.files("zkmargin.data")


def raw(name):
    return loads_json((DATA / name).read_bytes())


def text_of(name):
    return (DATA / name).read_text()


def shuffled(obj, rng):
    """The same JSON value with every object's keys in a random order."""
    if isinstance(obj, dict):
        items = list(obj.items())
        rng.shuffle(items)
        return {k: shuffled(v, rng) for k, v in items}
    if isinstance(obj, list):
        return [shuffled(v, rng) for v in obj]
    return obj


def respelled(obj, rng):
    """Numbers as JSON numbers or strings, with or without trailing zeros."""
    if isinstance(obj, dict):
        return {k: respelled(v, rng) for k, v in obj.items()}
    if isinstance(obj, list):
        return [respelled(v, rng) for v in obj]
    if isinstance(obj, str):
        try:
            d = Decimal(obj)
        except Exception:
            return obj
        if not d.is_finite() or obj.strip() != obj or "e" in obj.lower():
            return obj
        choice = rng.randrange(3)
        if choice == 0:
            return d  # JSON number
        if choice == 1:
            return obj + ("0" if "." in obj else ".0")
        return obj
    return obj


def dumps(obj):
    """JSON text with Decimals written as bare JSON numbers."""
    text = json.dumps(obj, default=lambda x: f"@@{x}@@")
    return text.replace('"@@', "").replace('@@"', "")


def test_domain_separation_and_definition():
    p = load_policy(str(DATA / "example_policy_cross.json"))
    assert policy_digest(p) == hashlib.sha256(b"zkmargin.policy/1\0" + canonical_bytes(p)).hexdigest()
    m = load_market(str(DATA / "example_market_cross.json"), p)
    assert market_digest(m) == hashlib.sha256(b"zkmargin.market/1\0" + canonical_bytes(m)).hexdigest()
    a = load_account(str(DATA / "example_account_cross.json"), p)
    assert account_digest(a) == hashlib.sha256(b"zkmargin.account/1\0" + canonical_bytes(a)).hexdigest()
    assert len(policy_digest(p)) == 64 and policy_digest(p) == policy_digest(p).lower()


def test_canonical_bytes_are_sorted_compact_ascii():
    p = load_policy(str(DATA / "example_policy_cross.json"))
    b = canonical_bytes(p)
    b.decode("ascii")
    assert b" " not in b.replace(b"example-binance", b"").split(b'"notes"')[0]
    obj = json.loads(b)
    assert json.dumps(obj, sort_keys=True, separators=(",", ":")).encode() == b
    # decimals are canonical strings, integers stay integers
    assert obj["decimals"] == {"amount": 8, "price": 2, "rate": 4, "size": 3}
    assert obj["instruments"][0]["maintenance"]["brackets"][2]["amount"] == "1300"


def test_same_content_other_spelling_same_digest():
    d = raw("example_policy_cross.json")
    base = policy_digest(load_policy(d))
    # key order
    rng = random.Random(7)
    assert policy_digest(load_policy(shuffled(d, rng))) == base
    # "1.50" vs 1.5 vs "1.5"
    d2 = copy.deepcopy(d)
    d2["buffer"] = "0.0500"
    d2["collateral"][1]["haircut"] = Decimal("0.05")
    assert policy_digest(load_policy(d2)) == base
    # omitted bracket amounts are filled in by the recursion
    d3 = copy.deepcopy(d)
    for ins in d3["instruments"]:
        for rule in ("maintenance", "initial"):
            for b in ins[rule]["brackets"]:
                b.pop("amount", None)
    assert policy_digest(load_policy(d3)) == base
    # default bit widths written out or not
    d4 = copy.deepcopy(d)
    del d4["bits"]
    assert policy_digest(load_policy(d4)) == base


def test_whole_file_reformatted_same_digest():
    text = text_of("example_policy_portfolio.json")
    base = policy_digest(load_policy(loads_json(text)))
    compact = json.dumps(json.loads(text), separators=(",", ":"), sort_keys=True)
    assert policy_digest(load_policy(loads_json(compact))) == base
    d = loads_json(text)
    d["scenarios"].pop("initial_factor")
    d["scenarios"]["initial_factor"] = "1.50"
    assert policy_digest(load_policy(d)) == base
    d["scenarios"]["initial_factor"] = "1.51"
    assert policy_digest(load_policy(d)) != base


def test_initial_factor_defaults_to_factor():
    d = raw("example_policy_portfolio.json")
    d["scenarios"]["initial_factor"] = d["scenarios"]["factor"]
    with_it = policy_digest(load_policy(d))
    del d["scenarios"]["initial_factor"]
    assert policy_digest(load_policy(d)) == with_it


def test_market_timestamp_spelling():
    d = raw("example_market_cross.json")
    base = market_digest(load_market(d))
    d["as_of"] = "2024-06-03T10:00:00+02:00"
    assert market_digest(load_market(d)) == base
    d["as_of"] = "2024-06-03T10:00:01+02:00"
    assert market_digest(load_market(d)) != base


def test_documents_of_different_kinds_never_share_a_digest():
    m = load_market({"format": "zkmargin.market/1", "as_of": "2024-01-01T00:00:00Z",
                     "prices": {}})
    a = parse_account({"format": "zkmargin.account/1"})
    assert market_digest(m) != account_digest(a)


@settings(max_examples=30, deadline=None)
@given(seed=st.integers(0, 2 ** 32 - 1), name=st.sampled_from(
    ["example_policy_cross.json", "example_policy_isolated.json",
     "example_policy_portfolio.json"]))
def test_property_reformatting_keeps_the_digest(seed, name):
    rng = random.Random(seed)
    d = raw(name)
    base = policy_digest(load_policy(d))
    d2 = respelled(shuffled(d, rng), rng)
    reparsed = loads_json(dumps(d2))
    assert policy_digest(load_policy(reparsed)) == base


def _numeric_paths(obj, path=()):
    if isinstance(obj, dict):
        for k, v in obj.items():
            yield from _numeric_paths(v, path + (k,))
    elif isinstance(obj, list):
        for i, v in enumerate(obj):
            yield from _numeric_paths(v, path + (i,))
    elif isinstance(obj, str):
        try:
            Decimal(obj)
        except Exception:
            return
        yield path


@settings(max_examples=40, deadline=None)
@given(data=st.data())
def test_property_any_value_change_changes_the_digest(data):
    d = raw("example_market_portfolio.json")
    base = market_digest(load_market(d))
    paths = list(_numeric_paths(d))
    path = data.draw(st.sampled_from(paths))
    bump = data.draw(st.sampled_from(["0.01", "1", "-0.01"]))
    obj = d
    for k in path[:-1]:
        obj = obj[k]
    new = Decimal(obj[path[-1]]) + Decimal(bump)
    if new < 0:
        new = Decimal(obj[path[-1]]) + Decimal("0.02")
    obj[path[-1]] = str(new)
    assert market_digest(load_market(d)) != base


@settings(max_examples=40, deadline=None)
@given(data=st.data())
def test_property_any_policy_number_change_changes_the_digest(data):
    d = raw("example_policy_portfolio.json")
    base = policy_digest(load_policy(d))
    row = data.draw(st.sampled_from(sorted(d["scenarios"]["pnl"])))
    s = data.draw(st.integers(0, len(d["scenarios"]["names"]) - 1))
    d["scenarios"]["pnl"][row][s] = str(Decimal(d["scenarios"]["pnl"][row][s]) + Decimal("0.0001"))
    assert policy_digest(load_policy(d)) != base


def test_changes_to_non_numbers_change_the_digest():
    d = raw("example_policy_cross.json")
    base = policy_digest(load_policy(d))
    for mutate in (lambda x: x.__setitem__("venue", "other"),
                   lambda x: x.__setitem__("requirement", "initial"),
                   lambda x: x["instruments"].reverse(),
                   lambda x: x["decimals"].__setitem__("amount", 9)):
        d2 = copy.deepcopy(d)
        mutate(d2)
        assert policy_digest(load_policy(d2)) != base
    a = raw("example_account_cross.json")
    p = load_policy(d)
    abase = account_digest(load_account(a, p))
    a["positions"][0]["size"] = "3.001"
    assert account_digest(load_account(a, p)) != abase


def test_digest_of_unvalidated_policy_is_the_normalized_one():
    from zkmargin.rules.models import parse_policy

    d = raw("example_policy_cross.json")
    assert digest(parse_policy(d)) == policy_digest(load_policy(d))
