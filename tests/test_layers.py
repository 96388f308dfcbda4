"""The library's layers: which part may import which, read off the source, so that the
shape DESIGN.md describes stays. The primitives (``ops``) import nothing above them but
the MAC ledger; the layers (``nn``) import only the primitives and the ledger; the
networks (``models``) import no training loop and no cache (``baselines`` trains them);
the ledger and the headless flag import nothing of the library."""

import ast
from pathlib import Path

import pytest

LIB = Path(__file__).resolve().parent.parent / "condcomp_lib"

# a module (or package) -> what of the library it may import; the rest of the library is
# above these and may import them freely
ALLOWED = {
    "ops": {"ops", "cost"},
    "nn": {"nn", "ops", "cost"},
    "models": {"models"},
    "cost": {"cost"},
    "headless": {"headless"},
}


def part(module: str) -> str:
    """condcomp_lib.ops.routed -> ops; condcomp_lib.cost -> cost."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else ""


def imports(path: Path, lib: Path = LIB) -> set[str]:
    """The library modules a source file of ``lib`` imports, as dotted names."""
    rel = path.relative_to(lib.parent).with_suffix("").parts
    package = list(rel if path.name == "__init__.py" else rel[:-1])
    package = [p for p in package if p != "__init__"]
    out = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = package[: len(package) - node.level + 1]
                stem = ".".join(base + ([node.module] if node.module else []))
                names = (
                    [stem] if node.module else [f"{stem}.{a.name}" for a in node.names]
                )
            else:
                names = [node.module or ""]
                if node.module == "condcomp_lib":
                    names = [f"condcomp_lib.{a.name}" for a in node.names]
            out |= {n for n in names if n.startswith("condcomp_lib")}
        elif isinstance(node, ast.Import):
            out |= {a.name for a in node.names if a.name.startswith("condcomp_lib")}
    return out


def violations(graph: dict[str, set[str]]) -> list[str]:
    """'a imports b' for every edge of ``graph`` (module -> imported modules) that the
    layers forbid."""
    bad = []
    for module, targets in sorted(graph.items()):
        allowed = ALLOWED.get(part(module))
        if allowed is None:
            continue
        bad += [
            f"{module} imports {t}" for t in sorted(targets) if part(t) not in allowed
        ]
    return bad


def test_the_layers_hold():
    graph = {}
    for path in LIB.rglob("*.py"):
        rel = path.relative_to(LIB.parent).with_suffix("").parts
        name = ".".join(p for p in rel if p != "__init__")
        graph[name] = imports(path)
    assert graph["condcomp_lib.ops.routed"]  # the reader finds imports at all
    assert violations(graph) == []


@pytest.mark.parametrize(
    "module, target",
    [
        ("condcomp_lib.ops.cost_grid", "condcomp_lib.bench"),  # a benchmark in ops
        ("condcomp_lib.nn.routed", "condcomp_lib.train"),  # a layer and its training
        ("condcomp_lib.cost", "condcomp_lib.viz"),
        ("condcomp_lib.models", "condcomp_lib.train"),  # a network and its training
    ],
)
def test_a_forbidden_import_is_found(module, target):
    assert violations({module: {target}}) == [f"{module} imports {target}"]


def test_relative_imports_are_read_as_modules(tmp_path):
    pkg = tmp_path / "condcomp_lib" / "ops"
    pkg.mkdir(parents=True)
    src = pkg / "x.py"
    src.write_text(
        "from .. import bench\nfrom ..viz import headless\nfrom . import cuda\n"
    )
    assert imports(src, tmp_path / "condcomp_lib") == {
        "condcomp_lib.bench",
        "condcomp_lib.viz",
        "condcomp_lib.ops.cuda",
    }
