"""Issue 11's table: every command of the CLI × every document it reads × the usual malformed inputs.

The commands are enumerated from the click group, so a new command without a row in :data:`ROWS`
fails :func:`test_every_command_has_a_row`. A row lists, per variant of the command line, the
documents it reads (its *slots*, each of a *kind*: account, market, policy, bundle, ...) and builds
the command line from a dict of paths. Each (command, slot) gets one malformed case (rotated through
the cases, so every case meets many commands); one representative (command, slot) per kind gets every
case. Each must: exit 2, write exactly one stderr line of at most 300 characters naming the file,
no ``Traceback``, no ``internal error``, and write or change no file (the outputs go to the case's
folder, whose listing and contents are compared; the shared well-formed documents are hashed too).
Twin: the well-formed documents pass the reading stage of every (command, variant): exit 0 or 1.

The documents are built once per module through the CLI itself (the one-instrument venue of
``tests/log_helpers.py``: proofs take about 0.1 s), plus the shipped examples and ccxt recordings.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from zkmargin.cli.main import cli
from zkmargin.files.inputs import LIMITS

ROOT = Path(__file__).resolve().parents[1]
EX = ROOT / "examples"
CCXT = ROOT / "tests" / "fixtures" / "ccxt" / "binanceusdm"
sys.path.insert(0, str(ROOT / "tests"))
from log_helpers import ACCOUNT, MARKET, POLICY  # noqa: E402

CHALLENGE = "ab" * 32
MAX_LINE = 300

# --- the well-formed documents ------------------------------------------------------------------


def run(args, **kw):
    return CliRunner().invoke(cli, [str(a) for a in args], catch_exceptions=False, **kw)


def _ok(args) -> str:
    r = run(args)
    assert r.exit_code == 0, (args, r.stdout, r.stderr)
    return r.stdout


def build_world(d: Path) -> dict[str, str]:
    """Every document a command reads, well-formed, in ``d`` (name -> path)."""
    w: dict[str, str] = {}

    def put(name: str, doc) -> str:
        p = d / f"{name}.json"
        p.write_text(json.dumps(doc, indent=1))
        w[name] = str(p)
        return str(p)

    def copy(name: str, src: Path) -> str:
        p = d / f"{name}{src.suffix}"
        shutil.copyfile(src, p)
        w[name] = str(p)
        return str(p)

    put("policy", POLICY)
    put("market", MARKET)
    put("account", ACCOUNT)
    w["venue_key"] = str(d / "venue.key")
    (d / "venue.pub").write_text(_ok(["venue-keygen", "-o", w["venue_key"]]).strip() + "\n")
    w["venue_pub"] = str(d / "venue.pub")
    w["custodian_key"] = str(d / "custodian.key")
    _ok(["custodian-keygen", "-o", w["custodian_key"]])
    w["openings"] = str(d / "openings.json")
    _ok(["commit", w["account"], "-p", w["policy"], "-o", w["openings"]])
    w["proof"] = str(d / "proof.json")
    _ok(["prove", w["account"], "-m", w["market"], "-p", w["policy"], "-c", CHALLENGE, "--openings",
         w["openings"], "-o", w["proof"]])
    w["log"] = str(d / "venue.log")
    w["receipt"] = str(d / "receipt.json")
    _ok(["verify", w["proof"], "-m", w["market"], "-p", w["policy"], "-c", CHALLENGE, "--log", w["log"],
         "--log-key", w["venue_key"], "--receipt-out", w["receipt"]])
    (d / "sth.json").write_text(_ok(["log-head", w["log"], "--json"]))
    w["sth"] = str(d / "sth.json")
    w["part"] = str(d / "part.json")
    _ok(["open", w["openings"], "-o", w["part"]])
    w["attestation"] = str(d / "attestation.json")
    w["att_openings"] = str(d / "att-openings.json")
    _ok(["attest", w["account"], "-p", w["policy"], "-k", w["custodian_key"], "-o", w["attestation"],
         "--openings", w["att_openings"], "--subject", "trader-1", "-c", CHALLENGE])
    w["clients"] = str(d / "clients.json")
    _ok(["client-add", w["clients"], "--id", "alice", "--subject", "trader-1", "--key-file",
         str(d / "alice.key")])
    # risk: examples/risk (history, stress, vols), a Monte-Carlo model
    for name in ("policy_base", "market", "history", "stress", "vols", "account"):
        copy(f"risk_{name}", EX / "risk" / f"{name}.json")
    put("dyn_history", {"format": "zkmargin.history/1",
                        "prices": {"BTCUSDT": [f"{67000 + 150 * (i % 7) - 40 * i}.50" for i in range(30)]}})
    put("model", {"seed": 9, "n": 40, "vols": {"BTC-PERP": "0.7", "ETH-PERP": "0.8"}})
    # scenarios: the portfolio example with the parameters its table was built with
    for name in ("policy", "market", "account"):
        copy(f"pf_{name}", EX / "portfolio" / f"{name}.json")
    put("pf_vols", {"BTCUSDT": 0.55, "ETHUSDT": 0.62})
    put("pf_shocks", {"BTCUSDT": 0.15, "BTCUSDT-20241227": 0.15, "ETHUSDT": 0.18})
    put("pf_vol_shocks", {"BTCUSDT": 0.25, "BTCUSDT-20241227": 0.25, "ETHUSDT": 0.25})
    # exchange recordings (ccxt results) and the venue imported from them
    for name in ("markets", "leverage_tiers", "mark_prices", "positions", "balance"):
        copy(f"rec_{name}", CCXT / f"{name}.json")
    w["imp_policy"], w["imp_market"], w["imp_account"] = (str(d / n) for n in ("imp-policy.json", "imp-market.json",
                                                                                 "imp-account.json"))
    _ok(["import-venue", "binanceusdm", "--data", CCXT, "--symbols", "BTCUSDT,ETHUSDT,SOLUSDT", "--policy-out",
         w["imp_policy"], "--market-out", w["imp_market"]])
    _ok(["import-account", "binanceusdm", "--data", CCXT, "--policy", w["imp_policy"], "-o", w["imp_account"]])
    return w


# --- the kinds of document and the malformed cases -------------------------------------------

#: The size cap each kind is read under (:data:`zkmargin.files.inputs.LIMITS`); None: not capped.
CAP = {"account": "account", "market": "market", "policy": "policy", "proof": "proof",
       "attestation": "attestation", "openings": "openings", "receipt": "receipt", "sth": "sth",
       "key": "key", "pubkey": "key", "clients": "clients", "history": "history", "stress": "stress",
       "vols": "parameters", "shocks": "parameters", "parameters": "parameters", "recording": "recording",
       "log": None}
TEXT_KINDS = {"key", "pubkey"}  # PEM or hex, not JSON
#: Kinds whose documents carry no format tag and whose fields are free (symbol maps, ccxt results).
UNTAGGED = {"vols", "shocks", "parameters", "recording"}

JSON_CASES = ["missing", "directory", "empty", "not json", "array", "bom", "binary", "huge", "deep",
              "duplicate key", "nan", "infinity", "exponent", "too many digits", "wrong tag", "unknown field"]


# --- the table ------------------------------------------------------------------------------------

Argv = Callable[[dict, Path], list]


@dataclass
class Variant:
    """One way to call a command: ``slots`` maps a name in the paths dict to the kind of document it
    is; ``argv(paths, out)`` builds the command line, outputs under ``out``; ``skip`` names cases that
    do not apply to a slot (``{"log": {"missing"}}``: a missing log is created, not read)."""

    name: str
    slots: dict[str, str]
    argv: Argv
    skip: dict[str, set[str]] = field(default_factory=dict)


VENUE = lambda p: ["-m", p["market"], "-p", p["policy"]]  # noqa: E731
REC = {"rec_markets": "recording", "rec_leverage_tiers": "recording", "rec_mark_prices": "recording"}
REC_ACCOUNT = {"rec_markets": "recording", "rec_positions": "recording", "rec_balance": "recording"}
REC_RECONCILE = {"rec_markets": "recording", "rec_positions": "recording"}


def _rec(p, *names):
    flags = {"rec_markets": "--markets", "rec_leverage_tiers": "--tiers", "rec_mark_prices": "--marks",
             "rec_positions": "--positions", "rec_balance": "--balance"}
    return [x for n in names for x in (flags[n], p[n])]


#: command -> its variants; an empty list: the command reads no document (said, not forgotten).
ROWS: dict[str, list[Variant]] = {
    "bench": [],  # no input file; runs the benchmark workloads
    "challenge": [],  # prints a fresh challenge
    "demo": [],  # its own example data, from the package
    "custodian-keygen": [],  # writes a key, reads nothing
    "venue-keygen": [],  # writes a key, reads nothing
    "db-migrate": [],  # a PostgreSQL URL, no file
    "check": [Variant("check", {"account": "account", "market": "market", "policy": "policy"},
                      lambda p, o: ["check", p["account"], *VENUE(p), "--plot", o / "a.svg"])],
    "prove": [Variant("prove", {"account": "account", "market": "market", "policy": "policy",
                                "openings": "openings"},
                      lambda p, o: ["prove", p["account"], *VENUE(p), "-c", CHALLENGE, "--openings", p["openings"],
                                    "-o", o / "proof.json"]),
              Variant("prove --attestation", {"attestation": "attestation", "att_openings": "openings"},
                      lambda p, o: ["prove", p["account"], *VENUE(p), "-c", CHALLENGE, "-a", p["attestation"],
                                    "--openings", p["att_openings"], "-o", o / "proof.json"])],
    "verify": [Variant("verify", {"proof": "proof", "market": "market", "policy": "policy"},
                       lambda p, o: ["verify", p["proof"], *VENUE(p), "-c", CHALLENGE, "--json"]),
               # the log records every submission, a malformed bundle too (see test_verify_log_...)
               Variant("verify --log", {"venue_key": "key", "log": "log"},
                       lambda p, o: ["verify", p["proof"], *VENUE(p), "-c", CHALLENGE, "--log", p["log"],
                                     "--log-key", p["venue_key"], "--receipt-out", o / "r.json", "--json"],
                       skip={"log": {"missing"}})],
    "verify-batch": [Variant("verify-batch", {"proof": "proof", "market": "market", "policy": "policy"},
                             lambda p, o: ["verify-batch", p["proof"], *VENUE(p), "-c", CHALLENGE, "--json"])],
    "inspect": [Variant("inspect", {"proof": "proof"}, lambda p, o: ["inspect", p["proof"], "--json"])],
    "attest": [Variant("attest", {"account": "account", "policy": "policy", "market": "market",
                                  "custodian_key": "key"},
                       lambda p, o: ["attest", p["account"], *VENUE(p), "-k", p["custodian_key"], "-o", o / "att.json",
                                     "--openings", o / "op.json", "--subject", "trader-1"])],
    "commit": [Variant("commit", {"account": "account", "policy": "policy"},
                       lambda p, o: ["commit", p["account"], "-p", p["policy"], "-o", o / "op.json"])],
    "open": [Variant("open", {"openings": "openings"}, lambda p, o: ["open", p["openings"], "-o", o / "part.json"]),
             Variant("open --check", {"part": "openings", "proof": "proof", "market": "market", "policy": "policy"},
                     lambda p, o: ["open", "--check", p["part"], "--proof", p["proof"], *VENUE(p), "--json"])],
    "receipt": [Variant("receipt", {"receipt": "receipt", "venue_pub": "pubkey", "proof": "proof"},
                        lambda p, o: ["receipt", p["receipt"], "--venue-key", p["venue_pub"], "--bundle", p["proof"],
                                      "--json"],
                        # the log hashes the raw bytes of a bundle that does not parse (it records
                        # malformed submissions too), so any readable --bundle is compared, not refused
                        skip={"proof": set(JSON_CASES) - {"missing", "directory"}})],
    "log-head": [Variant("log-head", {"log": "log", "venue_pub": "pubkey"},
                         lambda p, o: ["log-head", p["log"], "--venue-key", p["venue_pub"], "--json"])],
    "audit": [Variant("audit", {"log": "log", "venue_pub": "pubkey", "sth": "sth", "receipt": "receipt"},
                      lambda p, o: ["audit", p["log"], "--venue-key", p["venue_pub"], "--sth", p["sth"],
                                    "--receipt", p["receipt"], "--json"])],
    "client-add": [Variant("client-add", {"clients": "clients"},
                           lambda p, o: ["client-add", p["clients"], "--id", "bob", "--subject", "trader-2",
                                         "--key-file", o / "bob.key"], skip={"clients": {"missing"}})],
    "client-remove": [Variant("client-remove", {"clients": "clients"},
                              lambda p, o: ["client-remove", p["clients"], "--id", "alice"])],
    "serve": [Variant("serve", {"market": "market", "policy": "policy", "clients": "clients", "venue_key": "key",
                                "log": "log"},
                      lambda p, o: ["serve", *VENUE(p), "--clients", p["clients"], "--log", p["log"], "--log-key",
                                    p["venue_key"], "--port", "0"],
                      skip={"log": {"missing"}})],
    "policy-info": [Variant("policy-info", {"policy": "policy", "market": "market"},
                            lambda p, o: ["policy-info", p["policy"], "-m", p["market"], "--json"])],
    "scenarios": [Variant("scenarios", {"pf_policy": "policy", "pf_market": "market", "pf_vols": "vols",
                                        "pf_shocks": "shocks", "pf_account": "account"},
                          lambda p, o: ["scenarios", p["pf_policy"], "-m", p["pf_market"], "-o", o / "new.json",
                                        "--vols", p["pf_vols"], "--spot-shocks", p["pf_shocks"], "--plot",
                                        o / "l.svg", "--plot-account", p["pf_account"]]),
                  Variant("scenarios --vol-shocks", {"pf_vol_shocks": "shocks"},
                          lambda p, o: ["scenarios", p["pf_policy"], "-m", p["pf_market"], "-o", o / "new.json",
                                        "--vols", p["pf_vols"], "--vol-shocks", p["pf_vol_shocks"]])],
    "dynamic-margin": [Variant("dynamic-margin", {"policy": "policy", "dyn_history": "history"},
                               lambda p, o: ["dynamic-margin", p["policy"], "--history", p["dyn_history"],
                                             "--reference-vol", "0.5", "-o", o / "new.json"])],
    "generate-scenarios": [
        Variant("generate-scenarios --history", {"risk_policy_base": "policy", "risk_market": "market",
                                                 "risk_history": "history", "risk_stress": "stress",
                                                 "risk_vols": "vols"},
                lambda p, o: ["generate-scenarios", p["risk_policy_base"], "-m", p["risk_market"], "-o", o / "new.json",
                              "--history", p["risk_history"], "--stress", p["risk_stress"], "--vols", p["risk_vols"],
                              "--window", "30"]),
        Variant("generate-scenarios --monte-carlo", {"model": "parameters"},
                lambda p, o: ["generate-scenarios", p["risk_policy_base"], "-m", p["risk_market"], "-o", o / "new.json",
                              "--monte-carlo", p["model"], "--vols", p["risk_vols"]])],
    "import-venue": [Variant("import-venue", REC,
                             lambda p, o: ["import-venue", "binanceusdm", *_rec(p, *REC), "--symbols", "BTCUSDT",
                                           "--policy-out", o / "p.json", "--market-out", o / "m.json"])],
    "import-market": [Variant("import-market", {"imp_policy": "policy", "rec_markets": "recording",
                                                "rec_mark_prices": "recording"},
                              lambda p, o: ["import-market", "binanceusdm", *_rec(p, "rec_markets", "rec_mark_prices"),
                                            "-p", p["imp_policy"], "-o", o / "m.json"])],
    "import-account": [Variant("import-account", {"imp_policy": "policy", **REC_ACCOUNT},
                               lambda p, o: ["import-account", "binanceusdm", *_rec(p, *REC_ACCOUNT), "-p",
                                             p["imp_policy"], "-o", o / "a.json"])],
    "reconcile": [Variant("reconcile", {"imp_account": "account", "imp_policy": "policy", **REC_RECONCILE},
                          lambda p, o: ["reconcile", "binanceusdm", p["imp_account"], "-p", p["imp_policy"],
                                        *_rec(p, *REC_RECONCILE), "--json"])],
}


# --- the malformed inputs -----------------------------------------------------------------------

def cases_for(kind: str) -> list[str]:
    if kind == "log":
        return ["missing", "directory", "empty", "binary", "not json"]
    if kind in TEXT_KINDS:
        return ["missing", "directory", "empty", "binary", "huge", "not json"]
    cases = list(JSON_CASES)
    if kind in UNTAGGED:
        cases = [c for c in cases if c not in ("wrong tag", "unknown field")]
    if kind == "recording":
        cases.remove("exponent")  # ccxt results are free-form: an exponent in a field no importer reads is fine
    return cases


def _first_number_path(doc, path=(), any_leaf=False):
    """The path of the first leaf that is a number (or a short decimal string) outside ``format``;
    ``any_leaf``: the first leaf of any type (documents without numbers: attestations)."""
    if isinstance(doc, dict):
        items = [(k, v) for k, v in doc.items() if k != "format"]
    elif isinstance(doc, list):
        items = list(enumerate(doc))
    else:
        return None
    for k, v in items:
        if isinstance(v, (dict, list)):
            found = _first_number_path(v, (*path, k), any_leaf)
            if found is not None:
                return found
        elif any_leaf or (isinstance(v, (int, float)) and not isinstance(v, bool)) or (
                isinstance(v, str) and 0 < len(v) <= 30 and v.lstrip("-").replace(".", "", 1).isdigit()):
            return (*path, k)
    return None


def _with_number(doc, token: str) -> str:
    """``doc`` as JSON text with its first number replaced by the raw ``token``."""
    path = _first_number_path(doc) or _first_number_path(doc, any_leaf=True)
    assert path is not None, "no leaf to replace"
    target = doc
    for k in path[:-1]:
        target = target[k]
    target[path[-1]] = "@@NUMBER@@"
    return json.dumps(doc).replace('"@@NUMBER@@"', token)


def make_case(case: str, kind: str, good: str, folder: Path) -> Path:
    """The malformed input ``case`` of ``kind`` (from the well-formed file ``good``), in ``folder``."""
    bad = folder / f"bad-{kind}.json"
    if case == "missing":
        return bad
    if case == "directory":
        bad.mkdir()
        return bad
    raw = Path(good).read_bytes()
    if case == "huge":
        limit = LIMITS[CAP[kind]][0]
        with open(bad, "wb") as fh:
            fh.truncate(limit + 1)  # sparse: costs neither disk nor memory
        return bad
    doc = None if kind in TEXT_KINDS or kind == "log" else json.loads(raw)
    text: bytes | str = {
        "empty": b"",
        "not json": "format: zkmargin\nthis is not JSON {",
        "array": "[]",
        "binary": b"\x00\xff\xfe\x80\x81" * 40,
        "deep": '{"a":' * 5000 + "1" + "}" * 5000,
        "nan": "NaN",
        "infinity": "-Infinity",
        "exponent": "2.5e1",
        "too many digits": "1" * 200,
    }.get(case, b"")
    if case == "array" and isinstance(doc, list):  # ccxt results that are lists: the wrong type is an object
        text = "{}"
    if case == "bom":
        text = b"\xef\xbb\xbf" + raw
    elif case in ("nan", "infinity", "exponent", "too many digits"):
        text = _with_number(doc, str(text))
    elif case == "duplicate key":
        assert isinstance(doc, dict)
        items = list(doc.items())
        text = "{" + ", ".join(f"{json.dumps(k)}: {json.dumps(v)}" for k, v in [items[-1], *items]) + "}"
    elif case == "wrong tag":
        text = json.dumps({**doc, "format": "zkmargin.nothing/1"})
    elif case == "unknown field":
        text = json.dumps({**doc, "surprise": "1"})
    bad.write_bytes(text.encode() if isinstance(text, str) else text)
    return bad


# --- running a case -----------------------------------------------------------------------------


def snapshot(folder: Path) -> list:
    """Every file and folder under ``folder``: name, size and content (mtime for big sparse files)."""
    out = []
    for p in sorted(folder.rglob("*")):
        if p.is_dir():
            out.append((str(p), "dir"))
            continue
        st = p.stat()
        digest = hashlib.sha256(p.read_bytes()).hexdigest() if st.st_size < 1 << 20 else st.st_mtime_ns
        out.append((str(p), st.st_size, digest))
    return out


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    d = tmp_path_factory.mktemp("world")
    paths = build_world(d)
    return d, paths, snapshot(d)


@pytest.fixture(autouse=True)
def no_serving(monkeypatch):
    """``serve`` stops where it would start listening (after it read every input)."""
    import uvicorn

    monkeypatch.setattr(uvicorn, "run", lambda *a, **k: None)


#: Inputs a command writes when it succeeds or rejects: each case gets its own copy (in its folder,
#: whose contents are compared).
WRITTEN_INPUTS = ("log", "clients")


def refuse(world, variant: Variant, slot: str, case: str, folder: Path) -> None:
    d, paths, world_before = world
    kind = variant.slots[slot]
    bad = make_case(case, kind, paths[slot], folder)
    paths = {**paths, slot: str(bad)}
    for name in WRITTEN_INPUTS:  # verify --log logs rejections too; client-add rewrites its file
        if name != slot:
            paths[name] = shutil.copy(paths[name], folder / Path(paths[name]).name)
    argv = variant.argv(paths, folder)
    before = snapshot(folder)
    r = run(argv)
    where = f"{variant.name} {slot}={case}: exit {r.exit_code}, stderr {r.stderr!r}"
    assert r.exit_code == 2, where
    lines = [line for line in r.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, where
    assert len(lines[0]) <= MAX_LINE, where
    assert str(bad) in lines[0], where
    assert "Traceback" not in r.stderr + r.stdout and "internal error" not in r.stderr, where
    if case == "huge":
        assert "larger than" in lines[0], where
    if "--json" in argv:  # stdout holds exactly one document: the error
        doc = json.loads(r.stdout)
        assert doc["ok"] is False and doc["exit_code"] == 2, where
    else:
        assert r.stdout == "", where
    assert snapshot(folder) == before, where
    assert snapshot(d) == world_before, where


def _pairs():
    """(variant, slot) for every document every command reads, in the table's order."""
    return [(v, s) for variants in ROWS.values() for v in variants for s in v.slots]


def _matrix():
    """One case per (variant, slot), rotated; every case for the first slot of each kind."""
    out, seen, n = [], set(), 0
    for v, slot in _pairs():
        kind = v.slots[slot]
        applicable = [c for c in cases_for(kind) if c not in v.skip.get(slot, set())]
        if kind not in seen and not v.skip.get(slot):
            seen.add(kind)
            chosen = applicable
        else:
            chosen = [applicable[n % len(applicable)]]
            n += 1
        out += [pytest.param(v, slot, c, id=f"{v.name}-{slot}-{c}".replace(" ", "_")) for c in chosen]
    return out


MATRIX = _matrix()


# --- the tests ------------------------------------------------------------------------------------


def missing_rows(group: click.Group) -> set[str]:
    """The group's commands the table has no row for (and rows for commands that are gone)."""
    return set(group.commands) ^ set(ROWS)


def test_every_command_has_a_row():
    assert missing_rows(cli) == set()
    # twin: a command added to the group without a row is noticed
    grown = click.Group("zkmargin", commands={**cli.commands, "new-command": click.Command("new-command")})
    assert missing_rows(grown) == {"new-command"}


def test_every_kind_meets_every_case():
    full = {(p.values[0].slots[p.values[1]], p.values[2]) for p in MATRIX}
    for kind in {v.slots[s] for v, s in _pairs()}:
        assert {c for k, c in full if k == kind} == set(cases_for(kind)), kind


@pytest.mark.parametrize(("variant", "slot", "case"), MATRIX)
def test_malformed_input_is_refused_in_one_line(world, tmp_path, variant, slot, case):
    refuse(world, variant, slot, case, tmp_path)


VARIANTS = [pytest.param(v, id=v.name.replace(" ", "_")) for vs in ROWS.values() for v in vs]


@pytest.mark.parametrize("variant", VARIANTS)
def test_well_formed_documents_pass_the_reading_stage(world, tmp_path, variant):
    """Twin of the matrix: the same command lines with the well-formed documents (copied: client-add,
    client-remove and verify --log write to theirs) exit 0 or 1, never 2."""
    d, paths, _ = world
    mine = tmp_path / "world"
    shutil.copytree(d, mine)
    local = {k: v.replace(str(d), str(mine)) for k, v in paths.items()}
    out = tmp_path / "out"
    out.mkdir()
    r = run(variant.argv(local, out))
    assert r.exit_code in (0, 1), (variant.name, r.exit_code, r.stderr)
    assert "Traceback" not in r.stderr + r.stdout and "internal error" not in r.stderr


@pytest.mark.parametrize("case", ["not json", "huge", "exponent"])
def test_verify_log_records_a_malformed_bundle_and_names_its_file(world, tmp_path, case):
    """``verify --log`` records every submission, a bundle that does not parse too (its raw bytes:
    :mod:`zkmargin.verifier.log.record`), so there the log grows by one rejected entry; the line
    still names the bundle's file and what is wrong with it (it said ``error: empty input`` before),
    and no receipt is written. Twin: a well-formed bundle for a fresh challenge is accepted and
    gets its receipt."""
    import sqlite3

    d, paths, _ = world
    log = shutil.copy(paths["log"], tmp_path / "venue.log")

    def entries() -> int:
        with sqlite3.connect(log) as db:
            return db.execute("SELECT COUNT(*) FROM entries").fetchone()[0]

    bad = make_case(case, "proof", paths["proof"], tmp_path)
    before = entries()
    receipt = tmp_path / "r.json"
    base = ["-m", paths["market"], "-p", paths["policy"], "--log", log, "--log-key", paths["venue_key"],
            "--receipt-out", receipt]
    r = run(["verify", bad, "-c", CHALLENGE, *base])
    lines = [line for line in r.stderr.splitlines() if line.strip()]
    assert r.exit_code == 2 and len(lines) == 1 and str(bad) in lines[0], r.stderr
    assert len(lines[0]) <= MAX_LINE and "Traceback" not in r.stderr
    assert {"not json": "not valid JSON", "huge": "larger than 1 MiB", "exponent": "statement.threshold"}[case] in lines[0]
    assert entries() == before + 1 and not receipt.exists()
    # twin: a well-formed bundle (proved for a fresh challenge) is accepted, logged and receipted
    fresh = "cd" * 32
    proof = tmp_path / "fresh.json"
    _ok(["prove", paths["account"], "-m", paths["market"], "-p", paths["policy"], "-c", fresh, "-o", proof])
    r = run(["verify", proof, "-c", fresh, *base])
    assert r.exit_code == 0 and receipt.exists() and entries() == before + 2, r.stderr
