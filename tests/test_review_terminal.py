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
    assert "1-9 pick" in screen and "why you are asked" in screen
    assert f"undid {before[1]}" in screen

    status = json.loads(run_cli("status", project, "--json").stdout)
    assert status["answered"] == before[:2]
    assert status["pending"] == before[2:]
    exported = run_cli("status", project, "--json")  # answers are in the inbox, not yet committed
    assert json.loads(exported.stdout)["human_labels"] == 0

    from labelgraph.inbox import ReviewInbox

    inbox = ReviewInbox(project.parent / "run" / "reviews.sqlite")
    assert inbox.answered(before[:2]) == {before[0]: "negative", before[1]: None}


def test_more_than_nine_labels_are_typed(make_project):
    labels = {"positive": "likes the film", "negative": "dislikes the film"} | {f"topic{n}": "" for n in range(1, 10)}
    project = make_project(labels=labels)
    assert run_cli("run", project).returncode == 0
    before = json.loads(run_cli("status", project, "--json").stdout)["pending"]

    # l, then 11 picks the eleventh label; l, then a name; l, then nonsense stays on the card; q quits
    keys = ["l", "11\r", "l", "negative\r", "l", "meh\r", "q"]
    screen = drive([sys.executable, "-m", "labelgraph.cli", "review", str(project)], keys)
    assert "no label 'meh'" in screen

    from labelgraph.inbox import ReviewInbox

    inbox = ReviewInbox(project.parent / "run" / "reviews.sqlite")
    assert inbox.answered(before[:3]) == {before[0]: "topic9", before[1]: "negative"}


def test_resuming_from_the_review_goes_on_with_the_next_round(make_project):
    project = make_project(batch_size=3, budget=6)
    assert run_cli("run", project).returncode == 0
    first = json.loads(run_cli("status", project, "--json").stdout)["pending"]
    assert len(first) == 3

    # three answers, yes to resume; the next round's three items are reviewed in the same session; no to resume
    keys = ["1", "1", "1", ("y\r", "to review"), "2", "2", "2", ("n\r", "continue later")]
    screen = drive([sys.executable, "-m", "labelgraph.cli", "review", str(project)], keys, wait=300)
    screen = re.sub(r"\x1b\[[0-9;]*m", "", screen)  # styles (NO_COLOR drops only the colours)
    assert "3 items to review (round 2): the review goes on, q stops" in screen, screen[-2000:]
    assert "continue later with" in screen

    status = json.loads(run_cli("status", project, "--json").stdout)
    assert status["round"] == 2 and status["human_labels"] == 3  # round 1 committed by the resume
    assert len(status["answered"]) == 3 and not status["pending"] and not set(status["answered"]) & set(first)
