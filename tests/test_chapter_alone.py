"""A reader may open any chapter first: run alone, on an empty model cache, a chapter
trains what it needs instead of failing. Chapter 5 is the one that trains inside a
timing cell (under ``torch.no_grad()``), which once raised there."""

import papermill
import pytest

import book  # scripts/book.py


@pytest.mark.notebooks
def test_chapter_5_runs_alone_on_an_empty_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("CONDCOMP_CACHE", str(tmp_path / "cache"))
    nb = book.ROOT / "chapters" / "05_routed_execution.ipynb"
    try:
        book.execute_chapter(nb, "quick", out_dir=tmp_path / "executed")
    except papermill.PapermillExecutionError as e:
        pytest.fail(
            f"{nb.name}, alone, failed in cell {e.exec_count}:\n{e.ename}: {e.evalue}",
            pytrace=False,
        )
    assert any((tmp_path / "cache").glob("*.pt")), "it trained nothing to cache"
