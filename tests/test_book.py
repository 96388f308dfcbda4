"""The book as a test: every chapter executes in the quick profile, the book builds from
those executed notebooks, and each chapter's page holds its figures. Runs in book order.
"""

import html as html_lib
import re
import subprocess

import nbformat
import papermill
import pytest

import book  # scripts/book.py

CHAPTERS = book.chapters()
ids = [nb.stem for nb in CHAPTERS]


def test_committed_notebooks_carry_no_outputs():
    tracked = subprocess.run(
        ["git", "ls-files", "*.ipynb"], cwd=book.ROOT, capture_output=True, text=True
    ).stdout.split()
    files = [book.ROOT / f for f in tracked] or CHAPTERS
    dirty = []
    for path in files:
        nb = nbformat.read(path, as_version=4)
        if any(
            c.cell_type == "code" and (c.outputs or c.execution_count) for c in nb.cells
        ):
            dirty.append(path.name)
    assert not dirty, f"notebooks committed with outputs (clear them): {dirty}"


def test_every_chapter_has_a_parameters_cell_and_is_in_the_toc():
    toc = (book.ROOT / "_toc.yml").read_text()
    for path in CHAPTERS:
        nb = nbformat.read(path, as_version=4)
        tagged = [c for c in nb.cells if "parameters" in c.metadata.get("tags", [])]
        assert len(tagged) == 1 and 'profile = "quick"' in tagged[0].source, path.name
        assert f"chapters/{path.stem}" in toc, f"{path.name} is missing from _toc.yml"


@pytest.mark.notebooks
@pytest.mark.parametrize("nb", CHAPTERS, ids=ids)
def test_chapter_executes(nb):
    try:
        book.execute_chapter(nb, "quick")
    except papermill.PapermillExecutionError as e:
        pytest.fail(
            f"{nb.name} failed in cell {e.exec_count}:\n{e.ename}: {e.evalue}\n"
            + "\n".join(e.traceback[-3:]),
            pytrace=False,
        )


@pytest.mark.notebooks
def test_book_builds():
    missing = [nb.name for nb in CHAPTERS if not (book.EXECUTED / nb.name).is_file()]
    assert not missing, f"not executed (see the failures above): {missing}"
    index = book.build()
    assert index.is_file()


@pytest.mark.notebooks
@pytest.mark.parametrize("nb", CHAPTERS, ids=ids)
def test_chapter_page_holds_its_figures(nb):
    page = book.ROOT / "_build" / "html" / "chapters" / f"{nb.stem}.html"
    assert page.is_file(), f"{page} was not built"
    html = page.read_text()
    executed = nbformat.read(book.EXECUTED / nb.name, as_version=4)
    figures = sum(
        "image/png" in o.get("data", {})
        for c in executed.cells
        if c.cell_type == "code"
        for o in c.outputs
    )
    assert figures > 0, f"{nb.name} draws no figure"
    images = re.findall(r'<img[^>]+src="([^"]+\.png)"', html)
    assert len(images) >= figures, (
        f"{nb.name}: {figures} figures executed, {len(images)} on the page"
    )
    for src in images:
        assert (page.parent / src).resolve().is_file(), f"{nb.stem}: image {src} missing"
    assert "# Parameters" not in html, "the injected-parameters cell is visible"
    assert "Traceback" not in html


@pytest.mark.notebooks
@pytest.mark.parametrize("nb", CHAPTERS, ids=ids)
def test_chapter_page_reads_well(nb):
    """No code line on the page is cut off at the column's edge (90 characters), and the
    plotting and bookkeeping code is folded away (at least one folded input)."""
    page = (book.ROOT / "_build" / "html" / "chapters" / f"{nb.stem}.html").read_text()
    assert "tag_hide-input" in page, f"{nb.name}: no folded (hide-input) cell on the page"
    wide = []
    for block in re.findall(r'<div class="cell_input.*?<pre>(.*?)</pre>', page, re.S):
        text = html_lib.unescape(re.sub(r"<[^>]+>", "", block))
        wide += [line for line in text.splitlines() if len(line) > 90]
    assert not wide, (
        f"{nb.name}: {len(wide)} code lines wider than 90 characters: {wide[:3]}"
    )
    assert "running over TCP" not in page
    # printed lines wrap and wide tables and equations scroll (book/_static/code.css):
    # nothing the chapter prints is cut off at the column's edge
    assert "_static/code.css" in page, f"{nb.name}: the page does not load code.css"
    css = (book.ROOT / "_build" / "html" / "_static" / "code.css").read_text()
    assert re.search(r"div\.cell_output pre \{[^}]*white-space: pre-wrap", css)
