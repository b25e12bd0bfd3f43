"""The page scanner of the book tests finds verdicts printed without bearing evidence."""

from __future__ import annotations

from page_scan import verdict_leaks


def page(body: str) -> str:
    return f'<html><body><nav>holds</nav><article class="bd-article">{body}</article></body></html>'


def table(*rows: list[str]) -> str:
    return "<table>" + "".join(
        "<tr>" + "".join(f"<td>{c}</td>" for c in row) + "</tr>" for row in rows) + "</table>"


def test_a_verdict_from_demo_runs_in_prose_is_a_leak():
    leaks = verdict_leaks(page("<p>BigBird-large trained 7.73x as long as LED-large (finding 7; "
                               "verdict on these runs: does not hold).</p>"))
    assert leaks == ["sentence: verdict on these runs: does not hold)."]


def test_a_verdict_cell_without_an_evidence_kind_is_a_leak():
    leaks = verdict_leaks(page(table(["finding", "statement", "verdict"],
                                     ["2", "LED-base is more power-efficient", "holds"])))
    assert leaks == ["table row: 2 | LED-base is more power-efficient | holds"]


def test_verdicts_beside_bearing_evidence_pass():
    body = (table(["finding", "evidence", "verdict"],
                  ["6, part 3", "published + counted", "holds"],
                  ["7, compute", "counted", "does not hold"],
                  ["5, speed", "measured (CPU)", "inconclusive"])
            + "<p>Longer Qasper inputs buy little at a large cost: holds on published scores "
              "and counted compute.</p>")
    assert verdict_leaks(page(body)) == []


def test_a_pipeline_check_table_without_verdicts_and_code_pass():
    body = (table(["finding", "what the test computed on these runs", "the test ran"],
                  ["2", "LED-base 0.0012 samples/s/W against 0.0009", "yes"])
            + '<div class="cell_input"><pre>claims_table(frame)  # holds</pre></div>'
            + "<pre>python -m tradeoff grid  # does not hold</pre>")
    assert verdict_leaks(page(body)) == []


def test_the_navigation_is_not_read_and_a_row_is_shown_whole():
    leaks = verdict_leaks(page(table(["7, time", "Tested on these runs", "does not hold"])))
    assert leaks == ["table row: 7, time | Tested on these runs | does not hold"]
