"""The README's results, written from the document (itself written from `docs/results`), so no figure in the README
is quoted by hand: each part's command and its first table, between two markers."""

from __future__ import annotations

import re
from pathlib import Path

BEGIN = "<!-- results: written by `python -m bench.run --document` from docs/results; edit bench/readme.py -->"
END = "<!-- results: end -->"
PARTS = (  # (the document's section heading, starts with; the README's title of its first table)
    ("## 4. The default recipe", "The default recipe against the unpruned model given the same training"),
    ("## 1. The YouTube-8M experiment", "Against the baselines on AudioSet, the same fine-tuning budget for all"),
    ("## 1b. Structures learned", "Structures learned in training, against the one-shot cuts"),
    ("## 2. The Penn Treebank experiment", "Penn Treebank"),
    ("## 3. The paper's width", "The paper's width on AudioSet"),
    ("## 5. Speed", "Speed: measured speedup against the FLOP ratio"),
    ("## 11. The files that ship", "The files that ship: every TFLite precision, scored by the interpreter itself"),
    ("## 6. The cost of the tool", "The cost of the tool"),
    ("## Right after the cut", "Right after the cut: allocation x criterion x compensation"),
    ("## Beyond one machine", "Beyond one machine, measured on this one"),
    ("## Time per part", "The time each part of `make bench` took"),
)


def section(document: str, heading: str) -> str | None:
    """The text of the section whose heading starts with `heading`, up to the next heading of its level."""
    found = re.search(rf"^{re.escape(heading)}.*$", document, flags=re.M)
    if found is None:
        return None
    rest = document[found.end() :]
    end = re.search(r"^## ", rest, flags=re.M)
    return rest[: end.start()] if end else rest


def first_table(text: str) -> list[str]:
    lines, table = text.splitlines(), []
    for line in lines:
        if line.startswith("|"):
            table.append(line)
        elif table:
            break
    return table


def results(document: str) -> str:
    """Each part the document holds: its title, the command that reproduces it, and its first table."""
    out = []
    for heading, title in PARTS:
        text = section(document, heading)
        if text is None:
            continue
        command = re.search(r"`python -m bench\.run --only \w+`", text)
        where = f"{command.group(0)}; " if command else ""
        out += [f"**{title}** ({where}the full section in [docs/benchmarks.md](docs/benchmarks.md)):", ""]
        out += [*first_table(text), ""]
    return "\n".join(out)


def write(readme: Path, document: Path) -> None:
    """Replace what stands between the README's markers with the results of `document`."""
    text = readme.read_text()
    if BEGIN not in text or END not in text:
        raise SystemExit(f"{readme} has no results markers ({BEGIN} ... {END})")
    start, end = text.index(BEGIN) + len(BEGIN), text.index(END)
    readme.write_text(text[:start] + "\n\n" + results(document.read_text()) + "\n" + text[end:])
