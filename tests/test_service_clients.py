"""The service's clients file (``zkmargin.clients/1``) and the commands that write it:
``client-add`` prints a fresh API key once and stores only its salted hash (mode 0600, atomic);
keys authenticate only their own client; rotation and removal kill the old key; malformed files
and options are one-line input errors naming the file and the field."""

from __future__ import annotations

import json
import os
import stat

import pytest
from click.testing import CliRunner

from zkmargin.cli.main import cli
from zkmargin.errors import FormatError, InputError
from zkmargin.workflows.service import (
    ClientRegistry,
    add_client,
    bearer_key,
    load_clients,
    parse_rate,
    remove_client,
)

POLICY = {
    "format": "zkmargin.policy/1", "venue": "clients-test-venue", "quote": "USDT",
    "decimals": {"size": 3, "price": 2, "rate": 4, "amount": 2},
    "bits": {"size": 32, "price": 32, "amount": 40},
    "requirement": "maintenance", "mode": "cross", "buffer": "0.1",
    "collateral": [{"asset": "USDT", "haircut": "0"}],
    "instruments": [{"symbol": "BTCUSDT", "kind": "perpetual", "maintenance": {"rate": "0.005"},
                     "initial": {"rate": "0.01"}}],
}
MARKET = {"format": "zkmargin.market/1", "as_of": "2024-06-03T08:00:00Z", "prices": {"BTCUSDT": "67250.40"}}


def run(*args):
    return CliRunner().invoke(cli, list(args))


def test_a_key_authenticates_its_own_client_only(tmp_path):
    path = tmp_path / "clients.json"
    a, key_a = add_client(path, "alice", "acct-A")
    b, key_b = add_client(path, "bob", "acct-B", challenges="10/minute", outstanding=4)
    reg = load_clients(path)
    assert reg.authenticate(key_a) == a and reg.authenticate(key_b) == b
    assert reg.get("bob").quotas.outstanding == 4 and reg.get("bob").quotas.challenges == parse_rate("10/minute")
    # twins: every wrong key is refused alike
    kid_a, secret_a = key_a.split("_")[1:]
    kid_b, secret_b = key_b.split("_")[1:]
    for wrong in (f"zkm_{kid_a}_{secret_b}", f"zkm_{kid_b}_{secret_a}", f"zkm_{kid_a}_{'0' * 64}",
                  key_a.upper(), key_a[:-1], key_a + "0", "", None, f"zkm_{'0' * 16}_{secret_a}"):
        assert reg.authenticate(wrong) is None, wrong


def test_the_file_keeps_a_salted_hash_never_the_key(tmp_path):
    path = tmp_path / "clients.json"
    _, key = add_client(path, "alice", "acct-A")
    _, key2 = add_client(path, "bob", "acct-A")  # two keys for one account is allowed
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    text = path.read_text()
    secret = key.split("_")[2]
    assert secret not in text and key2.split("_")[2] not in text
    doc = json.loads(text)
    assert doc["format"] == "zkmargin.clients/1"
    salts = {c["key_salt"] for c in doc["clients"]}
    assert len(salts) == 2  # salted per client
    assert not [f for f in os.listdir(tmp_path) if f.endswith(".tmp")]  # atomic: no leftovers


def test_rotation_and_removal_kill_the_old_key(tmp_path):
    path = tmp_path / "clients.json"
    _, old = add_client(path, "alice", "acct-A", verifies="5/second")
    with pytest.raises(InputError, match="exists"):
        add_client(path, "alice", "acct-A")
    client, new = add_client(path, "alice", rotate=True)
    reg = load_clients(path)
    assert reg.authenticate(old) is None
    assert reg.authenticate(new) == client
    assert client.subject == "acct-A" and client.quotas.verifies == parse_rate("5/second")  # kept
    remove_client(path, "alice")
    assert load_clients(path).authenticate(new) is None
    with pytest.raises(InputError, match="no client"):
        remove_client(path, "alice")
    with pytest.raises(InputError, match="no client 'zed' to rotate"):
        add_client(path, "zed", rotate=True)


@pytest.mark.parametrize("edit, field", [
    (lambda d: d.update(format="zkmargin.clients/2"), "format"),
    (lambda d: d["clients"][0].pop("key_hash"), "clients[0].key_hash"),
    (lambda d: d["clients"][0].update(key_hash="XYZ"), "clients[0].key_hash"),
    (lambda d: d["clients"][0].update(key_salt="00"), "clients[0].key_salt"),
    (lambda d: d["clients"][0].update(id="no spaces"), "clients[0].id"),
    (lambda d: d["clients"][0].update(subject=""), "clients[0].subject"),
    (lambda d: d["clients"][0].update(subject="a\nb"), "clients[0].subject"),
    (lambda d: d["clients"][0].update(extra=1), "clients[0]"),
    (lambda d: d["clients"][0].update(quotas={"challenges": "ten per minute"}), "clients[0].quotas.challenges"),
    (lambda d: d["clients"][0].update(quotas={"outstanding": 0}), "clients[0].quotas.outstanding"),
    (lambda d: d["clients"][0].update(quotas={"outstanding": True}), "clients[0].quotas.outstanding"),
    (lambda d: d["clients"][0].update(quotas={"burst": 3}), "clients[0].quotas"),
    (lambda d: d["clients"].append(dict(d["clients"][0], key_id="0" * 16)), "clients[1].id"),
    (lambda d: d["clients"].append(dict(d["clients"][0], id="other")), "clients[1].key_id"),
])
def test_a_malformed_clients_file_is_an_input_error_naming_file_and_field(tmp_path, edit, field):
    path = tmp_path / "clients.json"
    add_client(path, "alice", "acct-A")
    doc = json.loads(path.read_text())
    edit(doc)
    path.write_text(json.dumps(doc))
    with pytest.raises(FormatError) as exc:
        load_clients(path)
    assert exc.value.source == str(path) and exc.value.field == field
    # the command line: exit 2, one line naming the file and the field, before serving anything
    pytest.importorskip("fastapi")
    pytest.importorskip("limits")
    res = run("serve", "-m", _write(tmp_path, "m.json", MARKET), "-p", _write(tmp_path, "p.json", POLICY),
              "--clients", str(path))
    assert res.exit_code == 2
    line = res.stderr.strip()
    assert "\n" not in line and str(path) in line and repr(field) in line


def test_a_good_clients_file_loads(tmp_path):
    """The twin of the malformed ones: the unedited file loads, with its client."""
    path = tmp_path / "clients.json"
    add_client(path, "alice", "acct-A")
    assert [c.id for c in load_clients(path)] == ["alice"]
    assert isinstance(load_clients(json.loads(path.read_text())), ClientRegistry)


def _write(tmp_path, name, doc) -> str:
    p = tmp_path / name
    p.write_text(json.dumps(doc))
    return str(p)


def test_rates_parse_exactly():
    assert parse_rate("60/minute") == parse_rate("60 per minute") == parse_rate("60 per 1 minutes")
    assert parse_rate("60/minute") != parse_rate("1/second")  # same average, another window
    assert (parse_rate("60/minute").count, parse_rate("60/minute").seconds) == (60, 60)
    assert (parse_rate("100 per 5 minutes").count, parse_rate("100 per 5 minutes").seconds) == (100, 300)
    assert (parse_rate("3/Second").count, parse_rate("3/Second").seconds) == (3, 1)
    for bad in ("0/minute", "60", "60/fortnight", "-1/second", "1.5/second", "nan/second", 60, None):
        with pytest.raises(FormatError):
            parse_rate(bad, field="--x")


def test_bearer_header():
    assert bearer_key("Bearer abc") == "abc" and bearer_key("bearer   abc ") == "abc"
    for h in (None, "", "Basic abc", "Bearer", "abc"):
        assert bearer_key(h) is None


# --- the commands --------------------------------------------------------------------------------


def test_client_add_prints_the_key_once_on_stdout(tmp_path):
    path = tmp_path / "clients.json"
    res = run("client-add", str(path), "--id", "alice", "--subject", "acct-A")
    assert res.exit_code == 0, res.stderr
    key = res.stdout.strip()
    assert res.stdout == key + "\n" and key.startswith("zkm_")
    assert key not in res.stderr and "alice" in res.stderr and len(res.stderr.strip().splitlines()) == 1
    assert load_clients(path).authenticate(key).subject == "acct-A"
    # --json: one document, the key in it
    res = run("client-add", str(path), "--id", "bob", "--subject", "acct-B", "--outstanding", "3", "--json")
    doc = json.loads(res.stdout)
    assert doc["id"] == "bob" and doc["quotas"] == {"outstanding": 3}
    assert load_clients(path).authenticate(doc["key"]).id == "bob"
    assert "key_hash" not in doc and "key_salt" not in doc


def test_client_add_key_file_is_private_and_never_overwritten(tmp_path):
    path = tmp_path / "clients.json"
    kf = tmp_path / "alice.key"
    res = run("client-add", str(path), "--id", "alice", "--subject", "acct-A", "--key-file", str(kf))
    assert res.exit_code == 0 and res.stdout == ""
    assert stat.S_IMODE(os.stat(kf).st_mode) == 0o600
    assert load_clients(path).authenticate(kf.read_text().strip()).id == "alice"
    before = path.read_bytes()
    res = run("client-add", str(path), "--id", "bob", "--subject", "acct-B", "--key-file", str(kf))
    assert res.exit_code == 2 and str(kf) in res.stderr
    assert path.read_bytes() == before  # nothing changed


def test_client_commands_refuse_bad_input_with_exit_2(tmp_path):
    path = tmp_path / "clients.json"
    run("client-add", str(path), "--id", "alice", "--subject", "acct-A")
    before = path.read_bytes()
    for args, where in ((["--id", "alice", "--subject", "acct-A"], "'--id'"),
                        (["--id", "bad id", "--subject", "x"], "'--id'"),
                        (["--id", "bob"], "'--subject'"),
                        (["--id", "bob", "--subject", "x", "--verifies", "10/fortnight"], "'--verifies'"),
                        (["--id", "bob", "--subject", "x", "--outstanding", "0"], "'--outstanding'")):
        res = run("client-add", str(path), *args)
        assert res.exit_code == 2, args
        assert where in res.stderr and len(res.stderr.strip().splitlines()) == 1
        assert res.stdout == ""
    res = run("client-remove", str(path), "--id", "nobody")
    assert res.exit_code == 2 and "nobody" in res.stderr
    assert path.read_bytes() == before
    res = run("client-remove", str(path), "--id", "alice", "--json")
    assert res.exit_code == 0 and json.loads(res.stdout) == {"id": "alice", "subject": "acct-A",
                                                             "key_id": json.loads(before)["clients"][0]["key_id"],
                                                             "removed": True}


def test_serve_refuses_bad_limits_with_exit_2(tmp_path):
    pytest.importorskip("fastapi")
    pytest.importorskip("limits")
    path = tmp_path / "clients.json"
    add_client(path, "alice", "acct-A")
    m, p = _write(tmp_path, "m.json", MARKET), _write(tmp_path, "p.json", POLICY)
    for opt, value in (("--client-challenges", "lots"), ("--global-verifies", "0/second"),
                       ("--client-outstanding", "0"), ("--body-timeout", "nan"), ("--challenge-ttl", "inf")):
        res = run("serve", "-m", m, "-p", p, "--clients", str(path), opt, value)
        assert res.exit_code == 2, (opt, res.stderr)
        assert opt in res.stderr and len(res.stderr.strip().splitlines()) == 1
    res = run("serve", "-m", m, "-p", p, "--clients", str(tmp_path / "missing.json"))
    assert res.exit_code == 2 and "missing.json" in res.stderr
