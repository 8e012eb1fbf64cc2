"""The terminal reviewer driven through a real pseudo-terminal: keys pick, undo, skip and quit."""

from __future__ import annotations

import json
import os
import pty
import re
import selectors
import subprocess
import sys
import time

from tests.conftest import cli_env, run_cli


def drive(args: list[str], keys: list[str | tuple[str, str]], *, wait: float = 60) -> str:
    """Run a command on a pty, send each key once the screen has settled, return everything it printed.

    A key given as ``(key, text)`` is sent, then the screen is read until ``text`` shows (a slow step)."""
    main, child = pty.openpty()
    process = subprocess.Popen(args, stdin=child, stdout=child, stderr=child, env=cli_env(), close_fds=True)
    os.close(child)
    screen = b""

    def read_until_quiet(quiet: float = 1.0, limit: float = wait, until: str | None = None) -> None:
        nonlocal screen
        start = last = time.monotonic()
        # epoll, not select(): late in a full suite the pty's descriptor can pass 1024, select()'s limit
        with selectors.DefaultSelector() as watch:
            watch.register(main, selectors.EVENT_READ)
            while time.monotonic() - start < limit:
                if watch.select(0.1):
                    try:
                        chunk = os.read(main, 65536)
                    except OSError:
                        return
                    if not chunk:
                        return
                    screen += chunk
                    last = time.monotonic()
                elif screen and time.monotonic() - last > quiet and (until is None or until.encode() in screen):
                    return

    read_until_quiet()
    for key in keys:
        key, until = key if isinstance(key, tuple) else (key, None)
        os.write(main, key.encode())
        read_until_quiet(quiet=0.5, limit=wait if until else 10, until=until)
    process.wait(timeout=wait)
    os.close(main)
    return screen.decode(errors="replace")


def test_keys_pick_undo_skip_quit(make_project):
    project = make_project()
    assert run_cli("run", project).returncode == 0
    before = json.loads(run_cli("status", project, "--json").stdout)["pending"]

    # 2 = negative for the first item, 1 = positive for the second, u undoes it, s skips it, q quits
    screen = drive([sys.executable, "-m", "labelgraph.cli", "review", str(project)], ["2", "1", "u", "s", "q"])
    screen = re.sub(r"\x1b\[[0-9;]*m", "", screen)  # styles (NO_COLOR drops only the colours)
    assert "1-9 pick" in screen and "why you are asked" in screen
    assert f"undone: {before[1]} (positive withdrawn): answer it again" in screen
    assert "2 answers from this review kept; 8 items still wait: run this again to go on" in screen

    status = json.loads(run_cli("status", project, "--json").stdout)
    assert status["answered"] == before[:2]
    assert status["pending"] == before[2:]
    exported = run_cli("status", project, "--json")  # answers are in the inbox, not yet committed
    assert json.loads(exported.stdout)["human_labels"] == 0

    from labelgraph.stores.labels import LabelStore

    inbox = LabelStore(project.parent / "run" / "labels.sqlite")
    assert inbox.answers(before[:2]) == {before[0]: "negative", before[1]: None}


def test_more_than_nine_labels_are_typed(make_project):
    labels = {"positive": "likes the film", "negative": "dislikes the film"} | {f"topic{n}": "" for n in range(1, 10)}
    project = make_project(labels=labels)
    assert run_cli("run", project).returncode == 0
    before = json.loads(run_cli("status", project, "--json").stdout)["pending"]

    # l, then 11 picks the eleventh label; l, then a name; l, then nonsense stays on the card; q quits
    keys = ["l", "11\r", "l", "negative\r", "l", "meh\r", "q"]
    screen = drive([sys.executable, "-m", "labelgraph.cli", "review", str(project)], keys)
    assert "no label 'meh'" in screen

    from labelgraph.stores.labels import LabelStore

    inbox = LabelStore(project.parent / "run" / "labels.sqlite")
    assert inbox.answers(before[:3]) == {before[0]: "topic9", before[1]: "negative"}


def test_resuming_from_the_review_goes_on_with_the_next_round(make_project):
    project = make_project(batch_size=3, budget=6)
    assert run_cli("run", project).returncode == 0
    first = json.loads(run_cli("status", project, "--json").stdout)["pending"]
    assert len(first) == 3

    # three answers, yes to resume; the next round's three items are reviewed in the same session; no to resume
    keys = ["1", "1", "1", ("y\r", "to review"), "2", "2", "2", ("n\r", "continue later")]
    screen = drive([sys.executable, "-m", "labelgraph.cli", "review", str(project)], keys, wait=300)
    screen = re.sub(r"\x1b\[[0-9;]*m", "", screen)  # styles (NO_COLOR drops only the colours)
    assert "3 items to review (round 2): the review goes on while the round works, q stops" in screen, screen[-2000:]
    assert "continue later with" in screen

    status = json.loads(run_cli("status", project, "--json").stdout)
    assert status["round"] == 2 and status["human_labels"] == 3  # round 1 committed by the resume
    assert len(status["answered"]) == 3 and not status["pending"] and not set(status["answered"]) & set(first)


def test_a_partly_answered_round_is_finished_here_with_undo_and_ctrl_c(make_project, gold, tmp_path):
    """9 answers of 10 from a sheet, then the terminal: the last one answered, undone at the closing question
    (u was refused there), Ctrl-C (it said nothing of the answers kept); again: answered, and the run resumes."""
    project = make_project()
    assert run_cli("run", project).returncode == 0
    pending = json.loads(run_cli("status", project, "--json").stdout)["pending"]
    sheet = tmp_path / "answers.jsonl"
    sheet.write_text("".join(json.dumps({"id": i, "label": gold[i]}) + "\n" for i in pending[:9]))
    assert run_cli("review", project, "--answers", sheet).returncode == 0
    last = pending[9]
    key = "1" if gold[last] == "positive" else "2"

    review = [sys.executable, "-m", "labelgraph.cli", "review", str(project)]
    screen = re.sub(r"\x1b\[[0-9;]*m", "", drive(review, [key, "u\r", "\x03"]))
    assert "1/1" in screen and "All answered. Resume the run now? [Y/n, u undoes the last answer]" in screen
    assert f"undone: {last} ({gold[last]} withdrawn): answer it again" in screen
    assert "interrupted: 0 answers from this review kept; 1 item still waits: run this again to go on" in screen
    status = json.loads(run_cli("status", project, "--json").stdout)
    assert status["answered"] == pending[:9] and status["pending"] == [last]

    screen = drive(review, [key, ("y\r", "to review"), "q"], wait=300)
    assert "items to review (round 2)" in screen
    status = json.loads(run_cli("status", project, "--json").stdout)
    assert status["round"] == 2 and status["human_labels"] == 10


def test_a_label_is_typed_by_its_start_and_long_neighbours_wrap_at_words():
    from rich.console import Console

    from labelgraph.agents.human import Candidate, ReviewItem, ShownNeighbour
    from labelgraph.cli.review_terminal import match_label, render

    labels = ["positive", "negative", "neutral", "mixed"]
    assert [match_label(typed, labels) for typed in ("neg", "Neg", "2", "mi", "POSITIVE", "ne", "x", "")] == [
        "negative", "negative", "negative", "mixed", "positive", None, None, None,
    ]  # fmt: skip
    text = (
        "an engrossing portrait of uncompromising artists trying to create something original against the backdrop "
        "of a corporate music industry that only seems to care about the bottom line"
    )
    neighbour = ShownNeighbour(text=text, label="positive", similarity=0.81)
    item = ReviewItem(id="r1", text="a film", round=1, candidates=[Candidate(label=n) for n in labels],
                      neighbours=[neighbour])  # fmt: skip
    console = Console(width=70, record=True, soft_wrap=True, color_system=None)
    console.print(render(item, labels, 1, 1))
    shown = console.export_text()
    words = [word for line in shown.splitlines() for word in line.strip("│ ").split()]
    assert all(word in words for word in text.split()), "a word of the neighbour was cut"
