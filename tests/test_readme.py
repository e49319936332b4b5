"""The README tells the truth.

* Its first two commands are exactly the set-up, and ``.ci/run`` runs exactly the second one.
* Run from a fresh copy of the working tree (tracked and new files, ``git ls-files``) in a fresh
  virtual environment, the first command (``pip install . && zkmargin demo``) succeeds, and the
  second one installs and its test suite imports from the copy's root. The venv deliberately does
  NOT use ``--system-site-packages``: a development machine's editable install would leak into it
  and hide exactly the packaging mistakes this test exists to catch. Installing costs about 30 s.
* The second command's full run takes as long as the whole suite (several minutes), so it runs
  only with ``ZKMARGIN_README_FULL=1``; by default the test stops after collection.
* Inside that full run ``ZKMARGIN_IN_README_TEST=1`` is set and this module skips itself, so the
  suite never recurses.
* The minimal file examples parse and work, and every relative link points to a file.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import zkmargin

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
FIRST = "pip install . && zkmargin demo"
SECOND = "pip install -e '.[test]' && python -m pytest"

pytestmark = pytest.mark.skipif(os.environ.get("ZKMARGIN_IN_README_TEST") == "1",
                                reason="already inside the README's test run")


def code_blocks(lang: str | None = None) -> list[str]:
    blocks = re.findall(r"```(\w*)\n(.*?)```", README.read_text(encoding="utf-8"), re.S)
    return [body.strip() for tag, body in blocks if lang is None or tag == lang]


def test_the_first_two_commands_are_the_set_up():
    blocks = code_blocks()
    assert blocks[0] == FIRST
    assert blocks[1] == SECOND
    text = README.read_text(encoding="utf-8")
    assert text.index(FIRST) < text.index("## ")  # before any section


def test_ci_runs_exactly_the_readme_test_command():
    lines = [line.strip() for line in (ROOT / ".ci" / "run").read_text().splitlines()]
    commands = [line for line in lines if line and not line.startswith("#")
                and not line.startswith(("set ", "cd "))]
    assert commands == [SECOND]
    assert os.access(ROOT / ".ci" / "run", os.X_OK)


def test_minimal_file_examples_work():
    docs = [json.loads(b) for b in code_blocks("json")[:3]]
    policy, market, account = docs
    assert [d["format"] for d in docs] == ["zkmargin.policy/1", "zkmargin.market/1",
                                           "zkmargin.account/1"]
    report = zkmargin.check(account, market, policy)
    assert report.meets and report.mode == "cross"
    # twin: the same files, with a threshold above the equity, do not meet it
    assert not zkmargin.check(account, market, policy, threshold=str(report.equity + 1)).meets


def test_relative_links_point_to_files():
    links = re.findall(r"\]\(([^)#:]+)\)", README.read_text(encoding="utf-8"))
    assert links
    missing = [link for link in links if not (ROOT / link).exists()]
    assert missing == []


def test_benchmark_table_is_filled_in():
    text = README.read_text(encoding="utf-8")
    assert "BENCH_TABLE" not in text
    for row in ("| W1 ", "| W2 ", "| sweep-4 ", "| sweep-256 "):
        assert row in text, row
    assert "AMD EPYC" in text and "3.11.7" in text and "0.5.0" in text


# --- fresh copy, fresh environment ----------------------------------------------------------------


def _tracked_and_new_files() -> list[str]:
    try:
        out = subprocess.run(["git", "ls-files", "-co", "--exclude-standard", "-z"], cwd=ROOT,
                             capture_output=True, check=True, timeout=60).stdout
    except (OSError, subprocess.SubprocessError):
        return []
    return [f for f in out.decode().split("\0") if f and ((ROOT / f).is_file() or (ROOT / f).is_symlink())]


def _fresh_copy(dest: Path) -> Path:
    files = _tracked_and_new_files()
    if files:
        for f in files:
            target = dest / f
            target.parent.mkdir(parents=True, exist_ok=True)
            if (ROOT / f).is_symlink():  # .typecheck/ is a tree of relative links: keep them links
                os.symlink(os.readlink(ROOT / f), target)
            else:
                shutil.copy2(ROOT / f, target)
    else:  # not a git checkout: copy the tree without caches and build output
        shutil.copytree(ROOT, dest, dirs_exist_ok=True, ignore=shutil.ignore_patterns(
            ".git", "__pycache__", "*.egg-info", "build", "dist", ".pytest_cache",
            ".hypothesis", ".benchmarks", ".venv"))
    return dest


def _env(venv: Path, **extra) -> dict:
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("ZKMARGIN_", "PYTHON", "VIRTUAL_ENV", "PIP_REQUIRE"))}
    env["PATH"] = f"{venv / 'bin'}{os.pathsep}{env.get('PATH', '')}"
    env["VIRTUAL_ENV"] = str(venv)
    env.update(extra)
    return env


def _sh(command: str, cwd: Path, env: dict, timeout: int) -> subprocess.CompletedProcess:
    return subprocess.run(["bash", "-c", command], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=timeout)


@pytest.fixture(scope="module")
def fresh(tmp_path_factory):
    """(copy of the working tree, fresh venv) with the README's first command already run."""
    base = tmp_path_factory.mktemp("readme")
    clone = _fresh_copy(base / "zkmargin")
    assert (clone / "pyproject.toml").exists() and (clone / "README.md").exists()
    venv = base / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=300)
    p = _sh(FIRST, clone, _env(venv), timeout=900)
    return clone, venv, p


@pytest.mark.slow
def test_first_command_installs_and_runs_the_demo(fresh):
    clone, venv, p = fresh
    assert p.returncode == 0, p.stdout[-4000:] + p.stderr[-4000:]
    assert "steps behaved as expected" in p.stdout and "UNEXPECTED" not in p.stdout
    # the `zkmargin` that ran is the fresh environment's, importing the fresh install
    where = subprocess.run([str(venv / "bin" / "python"), "-c",
                            "import zkmargin.cli.main, zkmargin; print(zkmargin.__file__)"],
                           cwd=venv, env=_env(venv), capture_output=True, text=True, timeout=60)
    assert where.returncode == 0, where.stderr
    assert where.stdout.strip().startswith(str(venv)), where.stdout


@pytest.mark.slow
def test_second_command_installs_and_runs_the_tests(fresh):
    clone, venv, first = fresh
    assert first.returncode == 0, "the first command failed"
    full = os.environ.get("ZKMARGIN_README_FULL") == "1"
    command = SECOND if full else SECOND + " --collect-only -q"
    p = _sh(command, clone, _env(venv, ZKMARGIN_IN_README_TEST="1"), timeout=3600)
    assert p.returncode == 0, p.stdout[-6000:] + p.stderr[-4000:]
    if full:
        assert " passed" in p.stdout
    else:
        # with the project's addopts (-q) and one more -q, pytest lists "path: count" per file
        counts = [int(m) for m in re.findall(r"^tests/\S+\.py: (\d+)$", p.stdout, re.M)]
        assert "collected" in p.stdout or sum(counts) > 100, p.stdout[-3000:]
