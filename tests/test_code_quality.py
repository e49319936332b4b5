"""Types and style cannot drift: ``mypy`` and ``ruff check`` run here, as they run bare in the
repository root (both configured in pyproject.toml, both installed by the ``test`` extra).

mypy reads the package through ``.typecheck/zkmargin``, a tree of relative symlinks with the
installed layout (pyproject.toml maps ``circuits/`` to ``zkmargin.circuits`` and so on, which mypy
cannot follow). The tree is checked here against the folders and the package-dir mapping, so a new
module or a moved folder is reported with the link to add.
"""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
TREE = Path(".typecheck") / "zkmargin"


def _tool(module: str) -> None:
    if importlib.util.find_spec(module) is None:
        pytest.skip(f"{module} is not installed (pip install '.[test]')")


def _run(args: list[str], stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", *args], cwd=ROOT, input=stdin, capture_output=True,
                          text=True, timeout=300)


# --- mypy --------------------------------------------------------------------------------------------


@pytest.mark.slow
def test_mypy_is_clean():
    _tool("mypy")
    p = _run(["mypy"])
    assert p.returncode == 0, p.stdout + p.stderr
    assert "Success" in p.stdout


@pytest.mark.slow
def test_mypy_twin_reports_a_wrong_call_into_a_mapped_package(tmp_path):
    """Twin: through the same link tree mypy sees the types of ``zkmargin.circuits`` (a mapped
    folder) and refuses a wrong call into it — the check above is not vacuous. (A command cannot be
    combined with the project's ``packages`` target, so this run names the tree itself.)"""
    _tool("mypy")
    config = tmp_path / "mypy.ini"
    config.write_text(f"[mypy]\npython_version = 3.11\nmypy_path = {ROOT / TREE.parent}\n")
    p = _run(["mypy", "--config-file", str(config), "--cache-dir", str(tmp_path / "cache"), "-c",
              "from zkmargin.circuits.margin import plan_margin\nplan_margin(1, 2, 3)\n"])
    assert p.returncode == 1, p.stdout + p.stderr
    assert "plan_margin" in p.stdout and "[arg-type]" in p.stdout


# --- ruff --------------------------------------------------------------------------------------------


def test_ruff_check_is_clean():
    _tool("ruff")
    p = _run(["ruff", "check", "--no-cache"])
    assert p.returncode == 0, p.stdout + p.stderr


def test_ruff_twin_reports_an_unused_import_in_a_package_module():
    _tool("ruff")
    p = _run(["ruff", "check", "--no-cache", "--stdin-filename", "zkmargin/rules/example.py", "-"],
             stdin="import os\n")
    assert p.returncode == 1 and "F401" in p.stdout, p.stdout + p.stderr


# --- the link tree mypy reads -------------------------------------------------------------------------


def expected_links(root: Path) -> dict[str, str]:
    """Link name in ``.typecheck/zkmargin`` -> its relative target, from the package-dir mapping:
    every entry of the ``zkmargin`` folder, and one link per folder mapped below ``zkmargin``."""
    with open(root / "pyproject.toml", "rb") as fh:
        mapping = tomllib.load(fh)["tool"]["setuptools"]["package-dir"]
    base = mapping["zkmargin"]
    links = {}
    for entry in sorted((root / base).iterdir()):
        if entry.name.startswith(".") or entry.name == "__pycache__" or entry.name.endswith(".egg-info"):
            continue
        links[entry.name] = f"../../{base}/{entry.name}"
    for name, folder in mapping.items():
        parts = name.split(".")
        if len(parts) == 2 and parts[0] == "zkmargin":
            links[parts[1]] = f"../../{folder}"
    return links


def link_tree_problems(root: Path) -> list[str]:
    """Missing, wrong and stale links, each with the command that fixes it."""
    tree = root / TREE
    want = expected_links(root)
    have = {p.name: os.readlink(p) for p in tree.iterdir() if p.is_symlink()} if tree.is_dir() else {}
    problems = []
    for name, target in sorted(want.items()):
        if have.get(name) != target:
            problems.append(f"{TREE}/{name} should link to {target}: (cd {TREE} && ln -sfn {target} {name})")
    for name in sorted(set(have) - set(want)):
        problems.append(f"{TREE}/{name} links to {have[name]}, which is not part of the package: "
                        f"rm {TREE}/{name}")
    if tree.is_dir():
        for p in sorted(tree.iterdir()):
            if not p.is_symlink():
                problems.append(f"{TREE}/{p.name} is not a link: remove it")
    return problems


def test_link_tree_mirrors_the_package():
    assert link_tree_problems(ROOT) == []


def _fake_repo(tmp_path: Path) -> Path:
    root = tmp_path / "repo"
    (root / "zkmargin").mkdir(parents=True)
    (root / "circuits").mkdir()
    (root / "pyproject.toml").write_text(
        '[tool.setuptools.package-dir]\n"zkmargin" = "zkmargin"\n"zkmargin.circuits" = "circuits"\n')
    (root / "zkmargin" / "__init__.py").write_text("")
    (root / TREE).mkdir(parents=True)
    os.symlink("../../zkmargin/__init__.py", root / TREE / "__init__.py")
    os.symlink("../../circuits", root / TREE / "circuits")
    return root


def test_link_tree_checker_twin_clean_fake_repo(tmp_path):
    assert link_tree_problems(_fake_repo(tmp_path)) == []


def test_link_tree_checker_reports_a_new_module(tmp_path):
    root = _fake_repo(tmp_path)
    (root / "zkmargin" / "newmod.py").write_text("")
    problems = link_tree_problems(root)
    assert len(problems) == 1 and "newmod.py" in problems[0] and "ln -sfn ../../zkmargin/newmod.py" in problems[0]


def test_link_tree_checker_reports_a_moved_module(tmp_path):
    root = _fake_repo(tmp_path)
    os.symlink("../../zkmargin/gone.py", root / TREE / "gone.py")
    problems = link_tree_problems(root)
    assert len(problems) == 1 and "gone.py" in problems[0] and "rm " in problems[0]


def test_link_tree_checker_reports_a_remapped_folder(tmp_path):
    root = _fake_repo(tmp_path)
    (root / "pyproject.toml").write_text(
        '[tool.setuptools.package-dir]\n"zkmargin" = "zkmargin"\n"zkmargin.circuits" = "circuits2"\n')
    problems = link_tree_problems(root)
    assert len(problems) == 1 and "../../circuits2" in problems[0]
