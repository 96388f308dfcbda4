"""Run every chapter in the full profile, in dependency order, and resume where the
committed numbers are still current.

    python scripts/reproduce.py [--chapter 04_cigt ...] [--force] [--dry-run]
    make reproduce [CHAPTER=04_cigt] [FORCE=1]

Order: a chapter runs after every chapter it needs, and otherwise in book order. What a
chapter needs is read off its notebook, so that the order cannot drift from the code: the
chapters whose results it loads are the ones its code names (``load_results("04_cigt")``,
a list of chapters to show); the chapters whose cached *networks* it loads through the
library, which the notebook's text cannot show, are listed in ``MODEL_NEEDS`` (chapter
0's baselines, chapter 1's B-LeNet). A comparison chapter (10 or later) comes after every
chapter before it, since it reads all their results.

A chapter is skipped when its ``results/<chapter>.json`` is current: the file exists,
its ``commit`` stamp is a commit git knows, and neither a later commit nor an
uncommitted edit has changed the code of the chapter's sources since the run (edits to
the notebook's prose, or to comments, docstrings and layout alone, do not count). The
sources are the notebook and the modules of ``condcomp_lib`` it imports directly
(``from condcomp_lib import cache, train``, ``from condcomp_lib.methods import cigt``):
a change to a module only another module imports is not noticed, and a change to code
is noticed whether or not it moves a number. A chapter also runs when a chapter it
needs ran in the same invocation, and a chapter that writes no results file of its own
(the comparison) always runs. ``FORCE=1`` (``--force``) runs every selected chapter.

After a chapter's run, a rewritten results file that lacks ``wall_clock_s`` gets the
run's wall-clock. Chapter 3's budget study is not part of
this: it runs for hours on its own (``make budget``)."""

from __future__ import annotations

import argparse
import ast
import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

ROOT = Path(__file__).resolve().parent.parent
CHAPTERS = ROOT / "chapters"
RESULTS = ROOT / "results"

# the chapters whose cached networks a chapter loads through the library (the networks'
# cache keys are built there, so the notebook's text does not name the chapter)
MODEL_NEEDS = {
    "01_early_exit": {"00_baselines"},
    "02_adaptive_networks": {"00_baselines", "01_early_exit"},
    "03_condconv": {"00_baselines"},
    "04_cigt": {"00_baselines"},
    "05_routed_execution": {"01_early_exit"},  # times chapter 1's full B-LeNet if cached
    "08_feature_cluster_trees": {"00_baselines"},
    "09_gates_and_cascades": {"00_baselines"},
}
# the long studies a chapter's full profile reads, run (resumably: a run on record is
# skipped) before the chapter: the static frontiers of chapters 0 and 7 and the arms of
# chapters 7, 8 and 9 on their other seeds take hours of training (the script and its
# arguments)
STUDIES = {
    "00_baselines": [["frontier_study.py"]],
    "07_activity_specialization": [
        ["frontier_study.py", "--family", "canvas"],
        ["activity_study.py"],  # the specialized networks on seeds 0, 1 and 2
    ],
    "08_feature_cluster_trees": [["cluster_study.py"]],  # its arms on seeds 1 and 2
    "09_gates_and_cascades": [["lkam_study.py"]],  # the LKAM networks on seeds 1 and 2
}
CHAPTER_NAME = re.compile(r"""["'](\d\d_[a-z0-9_]+)["']""")


# ---------------------------------------------------------------- pure decisions


def named_chapters(stem: str, code: str, stems: list[str]) -> set[str]:
    """The chapters among ``stems``, other than ``stem``, that ``code`` names in a string
    (``load_results("04_cigt")``, a list of chapters whose entries it shows)."""
    return set(CHAPTER_NAME.findall(code)) & (set(stems) - {stem})


def needs(stem: str, stems: list[str], code: str | None = None) -> set[str]:
    """The chapters among ``stems`` that ``stem`` needs to have run first: those whose
    networks it loads (``MODEL_NEEDS``) and those its notebook's ``code`` names (read
    from the notebook when not given)."""
    if int(stem[:2]) >= 10:  # the comparison reads every earlier chapter's results
        return {s for s in stems if s < stem}
    if code is None:
        nb = CHAPTERS / f"{stem}.ipynb"
        code = notebook_code(nb) if nb.is_file() else ""
    return (MODEL_NEEDS.get(stem, set()) & set(stems)) | named_chapters(stem, code, stems)


def order(stems: list[str]) -> list[str]:
    """``stems`` in an order where every chapter comes after those it needs; book order
    where nothing decides."""
    done: list[str] = []
    todo = sorted(stems)
    while todo:
        ready = [s for s in todo if needs(s, stems) <= set(done)]
        if not ready:
            raise ValueError(f"chapters that need each other: {todo}")
        done.append(ready[0])
        todo.remove(ready[0])
    return done


def decide(
    stem: str,
    *,
    writes_results: bool,
    stamp: str | None,
    changed: list[str] | None,
    ran: set[str],
    needed: set[str],
    force: bool,
) -> tuple[bool, str]:
    """(run it?, why) for one chapter. ``stamp`` is the commit its results file names
    (None: no file); ``changed`` the sources that differ from that commit (None: git
    does not know the commit); ``ran`` the chapters run so far in this invocation."""
    if force:
        return True, "FORCE=1"
    if not writes_results:
        return True, "writes no results file of its own"
    if stamp is None:
        return True, "no results file yet"
    if changed is None:
        return True, f"results stamped with commit {stamp}, which git does not know"
    if changed:
        more = f" and {len(changed) - 3} more" if len(changed) > 3 else ""
        what = ", ".join(changed[:3]) + more
        return True, f"changed since the results' commit {stamp}: {what}"
    upstream = sorted(needed & ran)
    if upstream:
        return True, f"a chapter it needs ran: {', '.join(upstream)}"
    return False, f"results current (commit {stamp}, sources unchanged since)"


IMPORT = re.compile(
    r"^[ \t]*from condcomp_lib(\.[\w.]+)? import (?:\(([^)]*)\)|([\w ,]+)$)", re.M
)


def writes_results(stem: str, code: str) -> bool:
    """Whether a chapter's ``code`` saves ``results/<stem>.json``: it calls
    ``save_results`` with its own name, written in the call or bound to a name first
    (``CH = "<stem>"``), or it starts as that chapter (``ch = chapter.start("<stem>",
    ...)``) and saves through the object (``ch.save(``)."""
    quoted = '"' + re.escape(stem) + '"'
    if re.search(r"save_results\(\s*" + quoted, code):
        return True
    started = re.search(r"^(\w+) = chapter\.start\(\s*" + quoted, code, re.M)
    if started and re.search(r"\b" + started.group(1) + r"\.save\(", code):
        return True
    bound = re.search(r"^(\w+) = " + quoted + r"\s*$", code, re.M)
    return (
        bound is not None
        and re.search(r"save_results\(\s*" + bound.group(1) + r"\b", code) is not None
    )


def sources(stem: str, code: str, root: Path = ROOT) -> list[str]:
    """The notebook and the ``condcomp_lib`` modules its ``code`` imports directly, as
    paths relative to ``root``; a package whose names (not modules) are imported stands
    for its whole folder."""

    def path(module: str) -> str | None:
        if (root / f"{module}.py").is_file():
            return f"{module}.py"
        return module if (root / module).is_dir() else None

    found = {f"chapters/{stem}.ipynb"}
    for package, grouped, names in IMPORT.findall(code):
        base = "condcomp_lib" + package.replace(".", "/")
        names = [n.split(" as ")[0].strip() for n in (grouped or names).split(",")]
        names = [n for n in names if n]
        modules = [path(f"{base}/{n}") for n in names]
        if None in modules:  # names defined in the module or package itself
            modules.append(path(base))
        found |= {m for m in modules if m is not None}
    return sorted(found)


# ---------------------------------------------------------------- git and files


def git(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True)


def code_of(text: str, path: str) -> str:
    """What of a source file can change a chapter's numbers: for a notebook its code
    cells, for a module its syntax tree without docstrings, so that edits to prose,
    comments, docstrings or layout alone do not count. Code that does not parse (a cell
    with a shell escape) is compared as text."""
    if path.endswith(".ipynb"):
        cells = json.loads(text)["cells"]
        parts = ["".join(c["source"]) for c in cells if c["cell_type"] == "code"]
    else:
        parts = [text]
    return "\n\0".join(syntax(part) for part in parts)


def syntax(code: str) -> str:
    """``code``'s syntax tree as text, docstrings dropped; the code itself if it does
    not parse."""
    try:
        tree = ast.parse(code)
    except SyntaxError:
        return code
    for node in ast.walk(tree):
        body = getattr(node, "body", None)
        if (
            isinstance(
                node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)
            )
            and body
            and isinstance(body[0], ast.Expr)
            and isinstance(body[0].value, ast.Constant)
            and isinstance(body[0].value.value, str)
        ):
            node.body = body[1:] or [ast.Pass()]
    return ast.dump(tree)


def changed_since(stamp: str, paths: list[str]) -> list[str] | None:
    """The paths whose code (:func:`code_of`) differs between commit ``stamp`` and the
    working tree, or None when git does not know ``stamp``."""
    if git("cat-file", "-e", f"{stamp}^{{commit}}").returncode != 0:
        return None
    out = git("diff", "--name-only", stamp, "--", *paths)
    changed = []
    for path in sorted(set(out.stdout.split())):
        before = git("show", f"{stamp}:{path}")
        now = ROOT / path
        if (
            before.returncode != 0
            or not now.is_file()
            or code_of(before.stdout, path) != code_of(now.read_text(), path)
        ):
            changed.append(path)
    return changed


def notebook_code(nb: Path) -> str:
    cells = json.loads(nb.read_text())["cells"]
    return "\n".join("".join(c["source"]) for c in cells if c["cell_type"] == "code")


def complete(path: Path, seconds: float) -> list[str]:
    """Give a freshly written results file ``seconds`` as its wall-clock when it has
    none. Returns what was added."""
    from condcomp_lib import cache, results_schema

    results, added = json.loads(path.read_text()), []
    if results.get("wall_clock_s") is None:
        results["wall_clock_s"] = round(seconds, 1)
        added.append("wall_clock_s")
    if added:
        results_schema.validate(results, f"results/{path.name}")
        cache.write_atomically(path, json.dumps(results, indent=2) + "\n")
    return added


# ---------------------------------------------------------------- the run


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--chapter", nargs="*", help="chapters to run (default: all)")
    p.add_argument("--force", action="store_true", help="rerun current chapters too")
    p.add_argument(
        "--dry-run", action="store_true", help="say what would run, run nothing"
    )
    args = p.parse_args(argv)
    force = args.force or os.environ.get("FORCE") == "1"
    stems = [nb.stem for nb in sorted(CHAPTERS.glob("[0-9][0-9]_*.ipynb"))]
    unknown = set(args.chapter or []) - set(stems)
    if unknown:
        p.error(f"no such chapter: {', '.join(sorted(unknown))}")
    selected = order([s for s in stems if not args.chapter or s in args.chapter])

    ran: set[str] = set()
    t_all = time.perf_counter()
    for i, stem in enumerate(selected, 1):
        nb = CHAPTERS / f"{stem}.ipynb"
        code = notebook_code(nb)
        path = RESULTS / f"{stem}.json"
        writes = writes_results(stem, code)
        stamp = json.loads(path.read_text())["commit"] if path.is_file() else None
        changed = changed_since(stamp, sources(stem, code)) if stamp else []
        run, why = decide(
            stem,
            writes_results=writes,
            stamp=stamp,
            changed=changed,
            ran=ran,
            needed=needs(stem, stems),
            force=force,
        )
        head = f"[{i}/{len(selected)}] {stem}"
        if not run:
            print(f"{head}: skipped, {why}", flush=True)
            continue
        if args.dry_run:
            studies = " and ".join(" ".join(c) for c in STUDIES.get(stem, []))
            first = f", after {studies}" if studies else ""
            print(f"{head}: would run ({why}{first})", flush=True)
            ran.add(stem)
            continue
        print(f"{head}: running the full profile ({why}) ...", flush=True)
        for script, *args in STUDIES.get(
            stem, []
        ):  # first; each resumes where it stopped
            print(f"  first {script} {' '.join(args)}, which {stem} reads", flush=True)
            study = ROOT / "scripts" / script
            subprocess.run([sys.executable, str(study), *args], cwd=ROOT, check=True)
        import book  # papermill and its kernel only once there is something to run

        before = path.stat().st_mtime if path.is_file() else None
        t0 = time.perf_counter()
        book.execute_chapter(nb, "full")
        took = time.perf_counter() - t0
        ran.add(stem)
        rewritten = path.is_file() and path.stat().st_mtime != before
        added = complete(path, took) if rewritten else []
        if added:
            print(f"  added to {path.name}: {', '.join(added)}", flush=True)
        print(
            f"  done in {took:.0f} s"
            + ("" if rewritten or not writes else f"; {path.name} was not rewritten")
            + f" ({time.perf_counter() - t_all:.0f} s so far)",
            flush=True,
        )
    done = "would run" if args.dry_run else "run"
    print(
        f"reproduce: {len(ran)} chapter(s) {done} in {time.perf_counter() - t_all:.0f} s"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
