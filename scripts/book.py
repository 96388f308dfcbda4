"""Execute every chapter once with papermill, then build the HTML book from those
notebooks.

    python scripts/book.py [--profile quick|full] [--only 00_baselines] [--no-build]

The committed notebooks carry no outputs. Each chapter is executed (its working directory
is ``chapters/``) into ``_build/executed/chapters/``; the cell papermill injects with the
profile is tagged ``remove-cell`` so it does not show in the book. The book's sources are
then staged in ``_build/stage/`` (config, table of contents, front matter, executed
chapters) and Jupyter Book builds them into ``_build/html`` without executing anything
again. Sphinx warnings fail the build."""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import nbformat
import papermill

ROOT = Path(__file__).resolve().parent.parent
CHAPTERS = ROOT / "chapters"
BUILD = ROOT / "_build"
EXECUTED = BUILD / "executed" / "chapters"
STAGE = BUILD / "stage"


def chapters() -> list[Path]:
    """The chapter notebooks, in book order (their file names start with the number)."""
    return sorted(CHAPTERS.glob("[0-9][0-9]_*.ipynb"))


def execute_chapter(nb: Path, profile: str = "quick", out_dir: Path = EXECUTED) -> Path:
    """Run one chapter with papermill; raises papermill's error (with the failing
    cell)."""
    out_dir.mkdir(parents=True, exist_ok=True)
    out = out_dir / nb.name
    os.environ["CONDCOMP_HEADLESS"] = "1"  # widgets become static figures (see viz.play)
    papermill.execute_notebook(
        str(nb),
        str(out),
        parameters={"profile": profile},
        cwd=str(nb.parent),
        kernel_name="python3",
        progress_bar=False,
        log_output=False,
        request_save_on_cell_execute=False,
    )
    book = nbformat.read(out, as_version=4)
    for cell in book.cells:
        tags = cell.metadata.setdefault("tags", [])
        if "injected-parameters" in tags and "remove-cell" not in tags:
            tags.append("remove-cell")
        if (
            cell.cell_type == "code"
        ):  # the kernel's own warnings are not the chapter's output
            cell.outputs = [o for o in cell.outputs if not _kernel_noise(o)]
    nbformat.write(book, out)
    return out


def _kernel_noise(output) -> bool:
    """A stream output that only carries a warning of the kernel's transport."""
    return (
        output.get("output_type") == "stream"
        and output.get("name") == "stderr"
        and "running over TCP without encryption" in output.get("text", "")
    )


def stage(executed: Path = EXECUTED) -> Path:
    """Copy the book's sources, with executed chapters, into the staging folder."""
    if STAGE.exists():
        shutil.rmtree(STAGE)
    STAGE.mkdir(parents=True)
    for name in ("_config.yml", "_toc.yml"):
        shutil.copy(ROOT / name, STAGE / name)
    shutil.copytree(ROOT / "book", STAGE / "book")
    # the introduction's findings, computed from the committed results at every build
    from condcomp_lib import findings

    (STAGE / "book" / "findings.md").write_text(findings.headline() + "\n")
    (STAGE / "chapters").mkdir()
    for nb in chapters():
        src = executed / nb.name
        if not src.is_file():
            raise FileNotFoundError(f"{src} is missing: execute {nb.name} first")
        shutil.copy(src, STAGE / "chapters" / nb.name)
    return STAGE


def build(executed: Path = EXECUTED) -> Path:
    """Build the HTML book from executed chapters; returns the path of index.html."""
    src = stage(executed)
    html = BUILD / "html"
    if html.exists():
        shutil.rmtree(html)
    jb = Path(sys.executable).parent / "jupyter-book"
    cmd = [str(jb), "build", str(src), "--path-output", str(ROOT), "-W", "--keep-going"]
    res = subprocess.run(cmd, capture_output=True, text=True)
    if res.returncode != 0:
        raise RuntimeError(
            f"jupyter-book build failed ({res.returncode}):\n"
            f"{res.stdout[-6000:]}\n{res.stderr[-6000:]}"
        )
    return html / "index.html"


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--profile", default="quick", choices=["quick", "full"])
    p.add_argument("--only", nargs="*", help="chapter names to execute (default: all)")
    p.add_argument("--no-build", action="store_true", help="execute only")
    args = p.parse_args()
    for nb in chapters():
        if args.only and nb.stem not in args.only:
            continue
        t0 = time.perf_counter()
        print(f"executing {nb.name} ({args.profile}) ...", flush=True)
        execute_chapter(nb, args.profile)
        print(f"  done in {time.perf_counter() - t0:.0f} s", flush=True)
    if not args.no_build:
        index = build()
        print(f"book: {index}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
