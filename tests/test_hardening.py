"""Issue 11: every input bounded, every error one clear line, nothing overwritten.

The input layer (:mod:`zkmargin.files.inputs`) table-driven over the usual malformed documents,
each refusal next to its twin (the same document, well-formed, accepted); the size cap on
``/dev/zero`` and a file just over the cap; through the CLI: one stderr line naming the file, exit
2, no traceback, no "internal error"; the output guard (``prove ACCOUNT -o ACCOUNT`` refuses before
any work and leaves the account as it was) and the exit code with stderr closed; ``audit`` of a
log its user may not write (root without capabilities on a ``nobody``-owned 0644 log in a 0755
folder: the issue's root-owned log audited by another user), with nothing written beside it.
A 200 MB account and ``/dev/zero`` are refused under a 160 MiB address-space limit, where reading
the file whole runs out of memory.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from importlib.resources import files
from pathlib import Path

import pytest
from click.testing import CliRunner

from zkmargin.cli.main import cli
from zkmargin.errors import FormatError, InputError, InputLimitError
from zkmargin.files.inputs import (
    LIMITS,
    MAX_DEPTH,
    MAX_DIGITS,
    load_json_object,
    parse_json,
    read_input,
)
from zkmargin.files.outputs import Output, check_output

ROOT = Path(__file__).resolve().parents[1]
DATA = files("zkmargin.data")
POLICY = str(DATA / "example_policy_cross.json")
MARKET = str(DATA / "example_market_cross.json")
ACCOUNT = str(DATA / "example_account_cross.json")


def deep(n: int) -> str:
    return '{"a":' * n + "1" + "}" * n


# (name, malformed document, the well-formed twin, the error type, words the message must contain)
CASES = [
    ("empty", b"", b"{}", FormatError, "empty"),
    ("bom", b'\xef\xbb\xbf{"a": 1}', b'{"a": 1}', FormatError, "byte-order mark"),
    ("binary", b"\x00\xff\xfe\x80", b'{"a": 1}', FormatError, "not UTF-8"),
    ("not json", b"format: policy", b'{"format": "policy"}', FormatError, "not valid JSON"),
    ("duplicate key", b'{"threshold": "0", "threshold": "25000"}', b'{"threshold": "25000"}', FormatError,
     "threshold"),
    ("nan", b'{"a": NaN}', b'{"a": 0}', FormatError, "a"),
    ("infinity", b'{"a": [1, -Infinity]}', b'{"a": [1, -1]}', FormatError, "a"),
    ("too many digits", ('{"a": %s}' % ("9" * (MAX_DIGITS + 1))).encode(),
     ('{"a": %s}' % ("9" * MAX_DIGITS)).encode(), InputLimitError, str(MAX_DIGITS)),
    ("too deep", deep(MAX_DEPTH + 1).encode(), deep(MAX_DEPTH - 1).encode(), InputLimitError, str(MAX_DEPTH)),
    ("far too deep", deep(100_000).encode(), deep(3).encode(), InputLimitError, str(MAX_DEPTH)),
    ("lone surrogate", b'{"a": "\\ud800"}', b'{"a": "\\u00e9"}', FormatError, "Unicode"),
]


@pytest.mark.parametrize(("name", "bad", "good", "error", "needle"), CASES, ids=[c[0] for c in CASES])
def test_input_layer_refuses_with_file_and_reason(name, bad, good, error, needle):
    with pytest.raises(error) as info:
        parse_json(bad, kind="proof", source="bundle.json", numbers="plain")
    line = info.value.one_line()
    assert "bundle.json" in line and needle in line, line
    assert "\n" not in line and len(line) < 400
    # twin: the well-formed document parses
    parse_json(good, kind="proof", source="bundle.json", numbers="plain")


def test_an_array_where_an_object_belongs(tmp_path):
    f = tmp_path / "account.json"
    f.write_text("[1, 2]")
    with pytest.raises(FormatError, match="expected a JSON object, got an array"):
        load_json_object(f, "account")
    f.write_text('{"format": "zkmargin.account/1"}')  # twin
    assert load_json_object(f, "account")[0]["format"] == "zkmargin.account/1"


def test_decimal_documents_keep_numbers_exact():
    doc = parse_json(b'{"a": 0.1, "b": 12345678901234567890.123456789}', kind="market")
    assert str(doc["a"]) == "0.1" and str(doc["b"]) == "12345678901234567890.123456789"


def test_dev_zero_costs_the_cap_not_its_size():
    cap = LIMITS["account"][0]
    with pytest.raises(InputLimitError, match="larger than 4 MiB") as info:
        read_input("/dev/zero", "account")
    assert info.value.limit == cap


def test_a_file_just_over_the_cap_is_refused(tmp_path):
    cap = LIMITS["proof"][0]
    big = tmp_path / "proof.json"
    with open(big, "wb") as fh:
        fh.truncate(cap + 1)  # sparse: costs no disk
    with pytest.raises(InputLimitError, match="1 MiB"):
        read_input(big, "proof")
    with open(big, "r+b") as fh:  # twin: at the cap it is read
        fh.truncate(cap)
    assert len(read_input(big, "proof")[0]) == cap


def test_missing_and_folder_inputs_name_the_file(tmp_path):
    with pytest.raises(FormatError, match="no such file"):
        read_input(tmp_path / "missing.json", "policy")
    with pytest.raises(FormatError, match="this is a folder"):
        read_input(tmp_path, "policy")


# --- through the CLI ------------------------------------------------------------------------------


def run(args):
    return CliRunner().invoke(cli, args, catch_exceptions=False)


MALFORMED = {
    "duplicate": '{"format": "zkmargin.account/1", "format": "zkmargin.account/1", "balances": {}, "positions": []}',
    "deep": deep(5000),
    "digits": '{"format": "zkmargin.account/1", "balances": {"USDT": %s}, "positions": []}' % ("1" * 500),
    "array": "[]",
    "empty": "",
}


@pytest.mark.parametrize("which", sorted(MALFORMED))
@pytest.mark.parametrize("slot", ["account", "market", "policy"])
def test_check_refuses_each_malformed_document_in_one_line(tmp_path, which, slot):
    bad = tmp_path / f"bad-{slot}.json"
    bad.write_text(MALFORMED[which])
    paths = {"account": ACCOUNT, "market": MARKET, "policy": POLICY, slot: str(bad)}
    r = run(["check", paths["account"], "--market", paths["market"], "--policy", paths["policy"]])
    assert r.exit_code == 2, (r.stdout, r.stderr)
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and str(bad) in lines[0] and len(lines[0]) < 600, r.stderr
    assert "Traceback" not in r.stderr and "internal error" not in r.stderr


def test_check_twin_accepts_the_well_formed_documents():
    r = run(["check", ACCOUNT, "--market", MARKET, "--policy", POLICY])
    assert r.exit_code == 0 and "Traceback" not in r.stderr, r.stderr


def test_prove_refuses_to_overwrite_its_own_account(tmp_path):
    account = tmp_path / "account.json"
    account.write_bytes(Path(ACCOUNT).read_bytes())
    before = account.read_bytes()
    r = run(["prove", str(account), "--market", MARKET, "--policy", POLICY, "-o", str(account)])
    assert r.exit_code == 2 and "account" in r.stderr and len(r.stderr.strip().splitlines()) == 1, r.stderr
    assert account.read_bytes() == before
    r = run(["prove", str(account), "--market", MARKET, "--policy", str(tmp_path / "nope" / "p.json"),
             "-o", str(tmp_path / "missing-folder" / "proof.json")])
    assert r.exit_code == 2 and "missing-folder" in r.stderr, r.stderr


def test_output_guard_refuses_inputs_and_unwritable_folders(tmp_path):
    account = tmp_path / "account.json"
    account.write_text("{}")
    with pytest.raises(InputError, match="account"):
        check_output(Output(account, "the proof bundle"), inputs=[(account, "the account")])
    with pytest.raises(InputError):
        check_output(Output(tmp_path / "no" / "proof.json", "the proof bundle"))
    with pytest.raises(InputError, match="private"):
        check_output(Output("-", "the openings", private=True))
    # twin: a fresh path in an existing folder, or a public document to stdout, is fine
    check_output(Output(tmp_path / "proof.json", "the proof bundle"), inputs=[(account, "the account")])
    check_output(Output("-", "the proof bundle"))


@pytest.mark.slow
def test_exit_code_holds_with_stderr_closed(tmp_path):
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    bad = tmp_path / "bad.json"
    bad.write_text("[]")
    base = [sys.executable, "-m", "zkmargin.cli", "check"]
    p = subprocess.run(base + [str(bad), "--market", MARKET, "--policy", POLICY], env=env,
                       stderr=subprocess.DEVNULL, stdout=subprocess.DEVNULL, timeout=120,
                       preexec_fn=lambda: os.close(2))
    assert p.returncode == 2
    p = subprocess.run([sys.executable, "-m", "zkmargin.cli", "challenge"], env=env, capture_output=False,
                       stdout=subprocess.PIPE, timeout=120, preexec_fn=lambda: os.close(2))
    assert p.returncode == 0 and len(p.stdout.decode().strip()) == 64  # twin: success is 0


# --- read-only audit ----------------------------------------------------------------------------


def _without_dac(cmd: list[str], **kw) -> subprocess.CompletedProcess:
    """``cmd`` with no capabilities: as root it is then held to the files' permission bits like any
    other user (the log below belongs to ``nobody``, 0644, in a 0755 folder: readable, not writable)."""
    return subprocess.run(["setpriv", "--bounding-set=-all", "--inh-caps=-all", *cmd], capture_output=True,
                          text=True, timeout=300, **kw)


@pytest.fixture(scope="module")
def read_only_log(tmp_path_factory):
    import shutil

    import zkmargin
    from zkmargin.verifier.log import VerificationLog
    from zkmargin.workflows import custodian as A

    if os.geteuid() != 0 or shutil.which("setpriv") is None:
        pytest.skip("needs root and setpriv to hand the log to another user")
    sys.path.insert(0, str(ROOT / "tests"))
    from log_helpers import ACCOUNT as SMALL_ACCOUNT
    from log_helpers import MARKET as SMALL_MARKET
    from log_helpers import POLICY as SMALL_POLICY

    key = A.generate_private_key()
    folder = tmp_path_factory.mktemp("ro") / "venue"
    folder.mkdir()
    path = folder / "venue.log"
    with VerificationLog(path, signing_key=key) as log:
        for i in range(2):
            ch = bytes([40 + i]) * 32
            b = zkmargin.prove(SMALL_ACCOUNT, SMALL_MARKET, SMALL_POLICY, 0, ch)
            log.record(b, SMALL_POLICY, SMALL_MARKET, 0, ch, zkmargin.verify(b, SMALL_MARKET, SMALL_POLICY, 0, ch))
    probe = _without_dac([sys.executable, "-c", "import zkmargin"], env={**os.environ, "PYTHONPATH": str(ROOT)})
    if probe.returncode != 0:
        pytest.skip(f"setpriv cannot drop capabilities here: {probe.stderr.strip()[-200:]}")
    for p in (folder, path):
        os.chown(p, 65534, 65534)
    os.chmod(folder, 0o755)
    os.chmod(path, 0o644)
    assert sorted(os.listdir(folder)) == ["venue.log"]
    return path, A.public_key_hex(key)


@pytest.mark.slow
def test_audit_reads_a_log_it_may_not_write_and_writes_nothing(read_only_log):
    path, pub = read_only_log
    before = path.read_bytes()
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    p = _without_dac([sys.executable, "-m", "zkmargin.cli", "audit", str(path), "--venue-key", pub, "--json"],
                     env=env, cwd=str(path.parent.parent))
    assert p.returncode == 0, p.stderr
    report = json.loads(p.stdout)
    assert report["clean"] and report["entries"] == 2
    assert sorted(os.listdir(path.parent)) == ["venue.log"]  # no -wal, no -shm
    assert path.read_bytes() == before
    # twin: the same user really may not write there, and SQLite's plain read-only opening of this
    # WAL-mode log (what audit did before issue 11) fails on it
    old = _without_dac([sys.executable, "-c",
                        "import sqlite3, sys; db = sqlite3.connect('file:' + sys.argv[1] + '?mode=ro', uri=True);"
                        "db.execute('SELECT COUNT(*) FROM sqlite_master').fetchone()", str(path)], env=env)
    assert old.returncode != 0 and "OperationalError" in old.stderr, old.stderr
    touch = _without_dac([sys.executable, "-c", "open(__import__('sys').argv[1], 'a')", str(path)], env=env)
    assert touch.returncode != 0 and "Permission denied" in touch.stderr
    assert sorted(os.listdir(path.parent)) == ["venue.log"]


# --- peak memory: the cap, not the file's size ------------------------------------------------------

MEMORY_LIMIT = 160 << 20  # address space: the CLI needs about 100 MiB; a 200 MB file read whole does not fit


def _capped(cmd: list[str]) -> subprocess.CompletedProcess:
    import resource

    def cap() -> None:
        resource.setrlimit(resource.RLIMIT_AS, (MEMORY_LIMIT, MEMORY_LIMIT))

    return subprocess.run(cmd, capture_output=True, text=True, timeout=300, preexec_fn=cap,
                          env={**os.environ, "PYTHONPATH": str(ROOT)})


@pytest.mark.slow
@pytest.mark.parametrize("source", ["200MB", "/dev/zero"])
def test_huge_account_is_refused_within_a_memory_limit(tmp_path, source):
    if source == "200MB":
        path = tmp_path / "huge-account.json"
        with open(path, "wb") as fh:
            fh.truncate(200_000_000)  # sparse
        source = str(path)
    p = _capped([sys.executable, "-m", "zkmargin.cli", "check", source, "--market", MARKET, "--policy", POLICY])
    assert p.returncode == 2, p.stderr[-500:]
    assert p.stderr.strip() == f"error: {source}: larger than 4 MiB, the limit for account files"
    # twin: under the same limit, reading the file whole (what the readers did before) runs out of memory
    whole = _capped([sys.executable, "-c", "import sys; open(sys.argv[1], 'rb').read(200_000_000)", source])
    assert whole.returncode != 0 and "MemoryError" in whole.stderr


def test_deep_nesting_is_refused_before_the_parser_even_with_a_raised_recursion_limit():
    """The C JSON parser recurses once per level and trusts the recursion limit; a process that
    raised it (hypothesis does while it runs) died with a segmentation fault on 200,000 '['. The
    input layer counts the nesting first. Run in a child process so a crash is a failed test, not
    a dead suite. Twin: a bracket inside a string is not nesting (a document with 1,000 '[' in a
    string parses)."""
    import subprocess
    import sys as _sys

    code = (
        "import sys; sys.setrecursionlimit(10**6)\n"
        "from zkmargin.files.inputs import parse_json\n"
        "from zkmargin.errors import InputLimitError\n"
        "try:\n"
        "    parse_json('[' * 200000 + ']' * 200000, source='deep.json')\n"
        "except InputLimitError as e:\n"
        "    print('refused:', e.one_line())\n"
        "print(parse_json('[\"' + '[' * 1000 + '\"]', source='flat.json')[0][:3])\n"
    )
    p = subprocess.run([_sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert p.returncode == 0, p.stderr[-500:]
    lines = p.stdout.splitlines()
    assert lines[0].startswith("refused:") and "deep.json" in lines[0] and "nested deeper" in lines[0]
    assert lines[1] == "[[["
