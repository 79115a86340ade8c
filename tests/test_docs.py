"""The README's results are the benchmark document's, as `python -m bench.run --document` writes them: a figure
edited by hand in either place, or a document rewritten without the README, fails here."""

import sys

from conftest import ROOT


def test_the_readme_results_are_the_documents():
    sys.path.insert(0, str(ROOT))
    from bench import readme

    text = (ROOT / "README.md").read_text()
    start, end = text.index(readme.BEGIN) + len(readme.BEGIN), text.index(readme.END)
    written = readme.results((ROOT / "docs" / "benchmarks.md").read_text())
    assert text[start:end].strip() == written.strip()
    assert "Penn Treebank" in written and "|---|" in written  # the parts are there, tables included
