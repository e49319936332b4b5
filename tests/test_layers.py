"""The layout's promises, checked on the source: data flows one way (docs/architecture.md).

Every import in the package — at the top of a module or inside a function — is read with
:mod:`ast` and resolved to a ``zkmargin.*`` module; each layer may import only the layers below it,
and the modules' top-level imports form no cycle.
"""

from __future__ import annotations

import ast
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

#: layer -> the layers it may import (besides itself). The margin rules and the cryptographic core
#: know nothing of each other; the circuits know the rules' public numbers; the documents a proof
#: travels with (bundle, attestation, openings, the trust rule) sit below the API; nothing imports
#: the CLI.
MAY_IMPORT: dict[str, set[str]] = {
    "errors": set(),
    "files": {"errors"},
    "crypto": {"errors", "files"},
    "rules": {"errors", "files"},
    "circuits": {"errors", "crypto", "rules"},
    "prover": {"errors", "crypto", "circuits"},
    "verifier.r1cs": {"errors", "crypto", "circuits"},
    "documents": {"errors", "files", "crypto", "rules", "prover"},
    "api": {"errors", "files", "crypto", "rules", "circuits", "prover", "verifier.r1cs", "documents"},
    "workflows": {"errors", "files", "crypto", "rules", "circuits", "prover", "verifier.r1cs", "documents",
                  "api", "package"},
    "cli": {"errors", "files", "crypto", "rules", "circuits", "prover", "verifier.r1cs", "documents", "api",
            "workflows", "package"},
    "package": {"errors", "api", "rules", "documents"},
}

#: Known exceptions to the layers, each with the reason it is allowed: none.
ALLOWED: set[tuple[str, str]] = set()


def layer_of(module: str) -> str:
    """The layer a ``zkmargin.*`` module belongs to."""
    parts = module.split(".")
    if module == "zkmargin":
        return "package"
    head = parts[1]
    if head in ("errors", "files", "crypto", "rules", "documents", "circuits", "prover", "cli", "api"):
        return head
    if head in ("prepared", "zone_proofs", "verification", "prepared_store", "prepared_entry", "statement"):  # the API's
        # prepared verifier (checking a bundle against it, its disk cache), its margin-call zone
        # proofs and the public statement
        return "api"
    if head == "verifier":  # the R1CS verifier (with its compiled weights and the parallel batch
        # verifier) sits beside the prover; the log and the audit above the API
        return "verifier.r1cs" if parts[2:3] in (["r1cs"], ["compiled"], ["parallel"], []) else "workflows"
    return "workflows"  # workflows/, importers/


def package_modules(root: Path) -> dict[str, Path]:
    """Module name -> file, for every module under the package-dir mapping."""
    with open(root / "pyproject.toml", "rb") as fh:
        mapping = tomllib.load(fh)["tool"]["setuptools"]["package-dir"]
    out: dict[str, Path] = {}
    for name, folder in mapping.items():
        base = root / folder
        for path in sorted(base.rglob("*.py")):
            rel = path.relative_to(base).with_suffix("").parts
            if any(p.startswith(".") or p == "__pycache__" for p in rel):
                continue
            if rel[-1] == "__init__":
                rel = rel[:-1]
            out.setdefault(".".join((name, *rel)), path)
    return out


def imports_of(module: str, path: Path, known: set[str]) -> list[tuple[str, bool]]:
    """``(imported zkmargin module, at top level)`` for every import in the file."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    top = {id(node) for node in tree.body}
    out = []

    def resolve(name: str) -> str | None:
        while name and name not in known:  # "from zkmargin.x import Name": the module is zkmargin.x
            name = name.rpartition(".")[0]
        return name or None

    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            targets = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                stem = ".".join(base + ([node.module] if node.module else []))
            else:
                stem = node.module or ""
            targets = [f"{stem}.{a.name}" for a in node.names]
        else:
            continue
        for t in targets:
            if t.startswith("zkmargin"):
                resolved = resolve(t)
                if resolved is not None and resolved != module:
                    out.append((resolved, id(node) in top))
    return out


def layer_problems(root: Path) -> list[str]:
    modules = package_modules(root)
    known = set(modules)
    problems = []
    graph: dict[str, set[str]] = {m: set() for m in modules}
    for module, path in modules.items():
        mine = layer_of(module)
        for target, at_top in imports_of(module, path, known):
            if at_top:
                graph[module].add(target)
            theirs = layer_of(target)
            if theirs != mine and theirs not in MAY_IMPORT[mine] and (module, target) not in ALLOWED:
                problems.append(f"{module} ({mine}) imports {target} ({theirs})")
    problems += [f"import cycle: {' -> '.join(c)}" for c in _cycles(graph)]
    return sorted(set(problems))


def _bound_names(module: str, modules: dict[str, Path]) -> set[str] | None:
    """Names a module binds at its top level (definitions, assignments, imports, also inside
    top-level ``if``/``try`` blocks, and what it star-imports from a module of ours); None when it
    star-imports from elsewhere (anything could be bound)."""
    path = modules[module]
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    names: set[str] = set()
    todo: list[ast.stmt] = list(ast.parse(path.read_text(encoding="utf-8")).body)
    while todo:
        node = todo.pop()
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.add(node.name)
        elif isinstance(node, (ast.Assign, ast.AnnAssign, ast.AugAssign)):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            for target in targets:
                names.update(n.id for n in ast.walk(target) if isinstance(n, ast.Name))
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            for a in node.names:
                if a.name != "*":
                    names.add(a.asname or a.name.partition(".")[0])
                    continue
                stem = _stem(package, node) if isinstance(node, ast.ImportFrom) else ""
                star = _bound_names(stem, modules) if stem in modules and stem != module else None
                if star is None:
                    return None
                names |= star
        elif isinstance(node, (ast.If, ast.Try)):
            todo.extend(node.body + node.orelse + getattr(node, "finalbody", []))
            for handler in getattr(node, "handlers", []):
                todo.extend(handler.body)
    return names


def _stem(package: str, node: ast.ImportFrom) -> str:
    """The module a ``from … import`` reads, relative imports resolved against ``package``."""
    if not node.level:
        return node.module or ""
    base = package.split(".")[: len(package.split(".")) - node.level + 1]
    return ".".join(base + ([node.module] if node.module else []))


def extension_modules(root: Path) -> set[str]:
    """The compiled modules pyproject.toml builds (``[[tool.setuptools.ext-modules]]``): they have
    no Python source to read, but they are modules of this checkout."""
    with open(root / "pyproject.toml", "rb") as fh:
        config = tomllib.load(fh)["tool"]["setuptools"]
    return {ext["name"] for ext in config.get("ext-modules", [])}


def dangling_imports(root: Path) -> list[str]:
    """Imports of ``zkmargin.*`` (at the top or inside a function) that name a module this checkout
    does not have, or a name that module does not define. An editable install falls back to
    another checkout's module of the same name, so a moved module's old path could otherwise keep
    "working" in one place and fail in every other."""
    modules = package_modules(root)
    compiled = extension_modules(root)
    bound: dict[str, set[str] | None] = {}
    problems = []
    for module, path in modules.items():
        package = module if path.name == "__init__.py" else module.rpartition(".")[0]
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                problems += [f"{module} imports {a.name}, which does not exist" for a in node.names
                             if a.name.startswith("zkmargin") and a.name not in modules and a.name not in compiled]
            elif isinstance(node, ast.ImportFrom):
                stem = _stem(package, node)
                if not stem.startswith("zkmargin"):
                    continue
                if stem not in modules:
                    problems.append(f"{module} imports from {stem}, which does not exist")
                    continue
                if stem not in bound:
                    bound[stem] = _bound_names(stem, modules)
                names = bound[stem]
                for a in node.names:
                    if a.name == "*" or f"{stem}.{a.name}" in modules or f"{stem}.{a.name}" in compiled:
                        continue
                    if names is not None and a.name not in names:
                        problems.append(f"{module} imports {a.name} from {stem}, which has no such name")
    return sorted(set(problems))


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """One representative cycle per strongly connected component with more than one module."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on: set[str] = set()
    out: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on.add(v)
        for w in sorted(graph.get(v, ())):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return out


# --- the real tree -------------------------------------------------------------------------------------


def test_every_import_goes_down_the_layers():
    assert layer_problems(ROOT) == []


def test_every_import_names_a_module_and_a_name_of_this_checkout():
    assert dangling_imports(ROOT) == []


def test_layers_cover_the_package():
    modules = package_modules(ROOT)
    assert "zkmargin.crypto.field" in modules and "zkmargin.circuits.margin.plan" in modules
    assert {layer_of(m) for m in modules} == set(MAY_IMPORT)


# --- the checker, on fake trees ------------------------------------------------------------------------


def _fake(tmp_path: Path, files: dict[str, str]) -> Path:
    root = tmp_path / "repo"
    (root / "circuits").mkdir(parents=True)
    (root / "pyproject.toml").write_text(
        '[tool.setuptools.package-dir]\n"zkmargin" = "zkmargin"\n"zkmargin.circuits" = "circuits"\n')
    for rel, text in {"zkmargin/__init__.py": "", "zkmargin/errors.py": "",
                      "zkmargin/crypto/__init__.py": "", "zkmargin/rules/__init__.py": "",
                      "circuits/__init__.py": "", **files}.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(text)
    return root


def test_checker_twin_a_downward_import_passes(tmp_path):
    root = _fake(tmp_path, {"zkmargin/crypto/field.py": "from ..errors import X\n",
                            "circuits/cs.py": "from zkmargin.crypto.field import R\n"})
    assert layer_problems(root) == []


def test_checker_reports_an_upward_import_even_inside_a_function(tmp_path):
    root = _fake(tmp_path, {"zkmargin/crypto/field.py": "def f():\n    from ..rules import engine\n",
                            "zkmargin/rules/engine.py": ""})
    assert layer_problems(root) == ["zkmargin.crypto.field (crypto) imports zkmargin.rules.engine (rules)"]


def test_checker_reports_a_rules_module_reaching_the_circuits(tmp_path):
    root = _fake(tmp_path, {"zkmargin/rules/engine.py": "from zkmargin.circuits.cs import C\n",
                            "circuits/cs.py": ""})
    assert layer_problems(root) == ["zkmargin.rules.engine (rules) imports zkmargin.circuits.cs (circuits)"]


def test_checker_reports_a_top_level_cycle(tmp_path):
    root = _fake(tmp_path, {"zkmargin/rules/a.py": "from . import b\n",
                            "zkmargin/rules/b.py": "from .a import x\n"})
    assert layer_problems(root) == ["import cycle: zkmargin.rules.a -> zkmargin.rules.b"]


def test_dangling_import_checker_twin_existing_names_pass(tmp_path):
    root = _fake(tmp_path, {"zkmargin/crypto/field.py": "R = 7\nif True:\n    def inv(x): ...\n",
                            "circuits/cs.py": "from zkmargin.crypto.field import R, inv\nfrom zkmargin import crypto\n"})
    assert dangling_imports(root) == []


def test_dangling_import_checker_reports_a_moved_module_and_a_missing_name(tmp_path):
    """What the editable install hid: a lazy import of a module that moved (``from . import
    engine`` after the engine went to ``rules/``), and a name its module no longer defines."""
    root = _fake(tmp_path, {"zkmargin/__init__.py": "from .errors import *\n",  # a star import of ours
                            "zkmargin/errors.py": "class InputError(Exception): ...\n",
                            "zkmargin/crypto/field.py": "R = 7\n",
                            "zkmargin/rules/engine.py": "def check(): ...\n",
                            "circuits/cs.py": "from zkmargin.crypto.field import R, inv\n"
                                              "def f():\n    from zkmargin import engine\n"})
    assert dangling_imports(root) == [
        "zkmargin.circuits.cs imports engine from zkmargin, which has no such name",
        "zkmargin.circuits.cs imports inv from zkmargin.crypto.field, which has no such name",
    ]


def test_dangling_import_checker_knows_the_compiled_modules(tmp_path):
    """An import of a module pyproject.toml compiles (``_frvec``) is not dangling; twin: the same
    import without the ext-modules entry is reported."""
    files = {"zkmargin/crypto/fr_vectors.py": "from . import _frvec\n"}
    root = _fake(tmp_path, files)
    assert dangling_imports(root) == ["zkmargin.crypto.fr_vectors imports _frvec from zkmargin.crypto, which has no such name"]
    with open(root / "pyproject.toml", "a") as fh:
        fh.write('[[tool.setuptools.ext-modules]]\nname = "zkmargin.crypto._frvec"\nsources = ["x.c"]\n')
    assert dangling_imports(root) == []
