"""Reading a rendered page as a reader does: which verdicts it prints, and on what evidence.

A verdict on one of the paper's findings ("holds", "does not hold", "inconclusive") may appear on a
page only beside the evidence that bears it: published scores with counted compute, counts of the
full architectures, or their speed measured on this project's CPU (the kinds of
:mod:`tradeoff.analysis.findings`). Runs of random-init mini models check the pipeline and
never yield a verdict: their tests appear in a "pipeline check" table without a verdict column.

:func:`verdict_leaks` finds the verdicts that break this rule in a page's article:

* a table cell that is a verdict, in a row with no cell naming a bearing evidence kind;
* a sentence of prose with a verdict word and no word of bearing evidence ("published",
  "counted", "measured").
"""

from __future__ import annotations

import re

from bs4 import BeautifulSoup

from tradeoff.analysis.findings import COUNTED, MEASURED_CPU, PUBLISHED_COUNTED

VERDICT = re.compile(r"\b(does not hold|holds|inconclusive)\b", re.IGNORECASE)
BEARING_KINDS = (PUBLISHED_COUNTED, COUNTED, MEASURED_CPU)
BEARING_WORDS = re.compile(r"\b(published|counted|counts|measured)\b", re.IGNORECASE)


def article(page_html: str) -> BeautifulSoup:
    """The page's article (its body without navigation), code cells' sources left out."""
    soup = BeautifulSoup(page_html, "html.parser")
    body = soup.find("article", class_="bd-article") or soup
    for hidden in body.select("div.cell_input, details, pre"):
        hidden.decompose()
    return body


def verdict_leaks(page_html: str) -> list[str]:
    """The verdicts of a page printed without the evidence that can bear them.

    Args:
        page_html: a rendered page.

    Returns:
        One line per leak: the table row or the sentence, shortened.
    """
    body = article(page_html)
    leaks = []
    for table in body.find_all("table"):
        for row in table.find_all("tr"):
            cells = [" ".join(c.get_text(" ").split()) for c in row.find_all(["td", "th"])]
            if any(VERDICT.fullmatch(c) for c in cells) and not set(cells) & set(BEARING_KINDS):
                leaks.append("table row: " + " | ".join(cells)[:200])
        table.decompose()
    text = " ".join(body.get_text(" ").split())
    for sentence in re.split(r"(?<=[.;!?])\s+", text):
        if VERDICT.search(sentence) and not BEARING_WORDS.search(sentence):
            leaks.append("sentence: " + sentence[:200])
    return leaks
