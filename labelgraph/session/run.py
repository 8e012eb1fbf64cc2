"""The Python API: a ``Project`` (a validated project file) and a ``Run`` (its run folder and graph thread).

run = Project.from_yaml("project.yaml").start()
run.step()                       # advance until people must answer, or the loop ends
run.pending_reviews()            # what waits for a person
run.answer({"item-7": "positive"})
run.step()                       # commit the answers and go on
run.relabel({"item-7": "negative"}, note="misread")   # change a committed label; the old one stays in its history
run.export("labels.jsonl")
"""

from __future__ import annotations

import fcntl
import itertools
import json
import os
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

from langgraph.types import Command
from pydantic import BaseModel

from labelgraph.agents.human import ReviewItem, SimulatedHuman, check_answers
from labelgraph.blas import one_blas_thread
from labelgraph.config import ProjectConfig, load_project
from labelgraph.critic.acceptance import Estimate
from labelgraph.data import LabelChange, LabelRecord, write_atomic, write_export
from labelgraph.encoding.embedders import Embedder
from labelgraph.errors import ConflictError, ReviewError, RunError
from labelgraph.graphs.checkpoint import checkpointer_for, close_checkpointer
from labelgraph.graphs.learning import stop_reason
from labelgraph.graphs.loop import ANSWERABLE, builder
from labelgraph.graphs.select import machine_todo
from labelgraph.graphs.state import LoopState
from labelgraph.llm.client import Usage
from labelgraph.session.wiring import build_context, check_plugins
from labelgraph.session.workspace import Workspace
from labelgraph.stores.labels import StoredVerdict
from labelgraph.student.models import save_student

__all__ = ["Phase", "Project", "Run", "RunStatus"]

Phase = Literal["new", "running", "interrupted", "paused", "done"]
"""``interrupted``: the loop stopped mid-round (Ctrl-C, a kill, a crash) and no process runs it: ``resume`` goes on."""


class RunStatus(BaseModel):
    """Where a run stands; ``labelgraph status --json`` prints this."""

    run: str
    name: str
    label_names: list[str]
    phase: Phase
    round: int
    stop_reason: str | None
    pool: int
    coverage: float
    """Share of the pool with a label the student trains on (people's, seeds, accepted machine labels)."""
    labels: int
    counts: dict[str, int]
    """Labels by status: seed, human, accepted, proposed, rejected, set_aside, failed."""
    by_label: dict[str, int]
    by_source: dict[str, int]
    human_labels: int
    budget: int
    estimate: Estimate | None
    """The accepted machine labels' estimated accuracy, its interval, per label, and the accuracy-coverage curve."""
    machine_todo: int
    """Texts in the machine lane's scope not annotated yet."""
    cost: float
    expected_cost_to_finish: float | None
    pending: list[str]
    answered: list[str]
    pending_items: list[ReviewItem]
    """The pending reviews themselves: text, candidates, reasons (what ``labelgraph review --pending`` writes)."""
    metrics: dict[str, float]
    llm_usage: dict[str, Usage]
    tools: dict[str, dict[str, float]]
    history: list[dict[str, Any]]


class Project:
    """A validated project file."""

    def __init__(self, config: ProjectConfig):
        self.config = config

    @classmethod
    def from_yaml(cls, path: str | Path) -> Project:
        return cls(load_project(path))

    def check(self, **plugins: Any) -> None:
        """Resolve the project's plug-ins and embedding model (those not given): a typo is an error at once."""
        check_plugins(self.config, given=plugins)

    def start(self, *, embedder: Embedder | None = None, **plugins: Any) -> Run:
        """Create the run folder (or reopen it if it exists) and return its run."""
        self.check(**plugins)  # a typo fails before the folder exists
        return Run(Workspace.create(self.config, embedder=embedder), **plugins)


class Run:
    """One run folder and its graph thread. Not for use from two processes at once (the folder is locked)."""

    def __init__(self, workspace: Workspace, **plugins: Any):
        self.workspace = workspace
        self.context = build_context(workspace, **plugins)
        self.memory, self.store, self.llm = self.context.memory, self.context.store, self.context.llm
        try:
            checkpointer = checkpointer_for(self.config.checkpoints, workspace.checkpoints)
        except BaseException:
            self.context.close()
            raise
        self.graph = builder.compile(checkpointer=checkpointer)
        self._thread = {"configurable": {"thread_id": workspace.thread_id}}

    @classmethod
    def open(cls, path: str | Path, **plugins: Any) -> Run:
        return cls(Workspace.open(Path(path)), **plugins)

    @property
    def config(self) -> ProjectConfig:
        return self.workspace.config

    @property
    def gold(self) -> dict[str, str]:
        """Gold labels that came with the pool file (for simulations); the loop never reads them."""
        return self.workspace.gold()

    # -- state ---------------------------------------------------------------------------------------
    def _snapshot(self):
        return self.graph.get_state(self._thread)

    @property
    def phase(self) -> Phase:
        return self._phase_of(self._snapshot())

    def _phase_of(self, snapshot: Any) -> Phase:
        if not snapshot.values:
            return "new"
        if snapshot.interrupts:
            return "paused"
        # after a kill between two nodes LangGraph may leave ``next`` empty while the task is still pending
        if not (snapshot.next or snapshot.tasks):
            return "done"
        return "running" if self._held() else "interrupted"

    def _held(self) -> bool:
        """Whether a process (this one included) holds the run folder's lock, i.e. is running the loop now."""
        try:
            handle = os.open(self.workspace.path / ".lock", os.O_RDONLY)
        except FileNotFoundError:
            return False
        try:
            fcntl.flock(handle, fcntl.LOCK_SH | fcntl.LOCK_NB)
            fcntl.flock(handle, fcntl.LOCK_UN)
            return False
        except BlockingIOError:
            return True
        finally:
            os.close(handle)

    def _state(self, snapshot: Any = None) -> LoopState:
        """The checkpointed state as its model (the defaults before the first node; an earlier version's dicts
        read into models)."""
        values = (snapshot or self._snapshot()).values
        return LoopState.model_validate(values if isinstance(values, dict) else dict(values))

    def _waiting(self, snapshot: Any = None) -> list[ReviewItem]:
        """The items the round asks for: those of the paused graph (its batch less the answers it holds already,
        read from the interrupt's JSON payload), or the whole batch while the round works before its pause."""
        snapshot = snapshot or self._snapshot()
        if snapshot.interrupts:
            return [ReviewItem.model_validate(i) for interrupt in snapshot.interrupts for i in interrupt.value["items"]]
        return self._batch(snapshot)

    def _batch(self, snapshot: Any = None) -> list[ReviewItem]:
        """The round's whole batch, answered or not, while it takes answers: from ``present`` until the graph
        takes them (``graphs.loop.ANSWERABLE``); empty otherwise."""
        snapshot = snapshot or self._snapshot()
        state = self._state(snapshot)
        if snapshot.interrupts or (not state.decisions and ANSWERABLE.intersection(snapshot.next or ())):
            return state.pending
        return []

    def _answered(self, snapshot: Any = None) -> dict[str, str | None]:
        """The round's answers not yet committed: in the inbox, or held by the graph (a folder paused by an
        earlier version, which handed a partly answered batch to the graph)."""
        snapshot = snapshot or self._snapshot()
        batch = [item.id for item in self._batch(snapshot)]
        held = dict(self._state(snapshot).decisions) if batch else {}
        return {**self.store.answers(batch), **{i: label for i, label in held.items() if i in batch}}

    def pending_reviews(self, *, include_answered: bool = False) -> list[ReviewItem]:
        """Items waiting for a person (by default, those nobody has answered yet; with ``include_answered``, the
        round's whole batch)."""
        if include_answered:
            return self._batch()
        waiting = self._waiting()
        answered = self.store.answers([item.id for item in waiting])
        return [item for item in waiting if item.id not in answered]

    def answered(self, ids: list[str]) -> dict[str, str | None]:
        """The stored answers among ``ids`` not yet committed (a label, or None: set aside); reads no checkpoint."""
        return self.store.answers(ids)

    def checkpoint_version(self) -> tuple[str, int] | None:
        """The latest checkpoint's id and how many pending writes it has (None before the first): it changes
        whenever the loop saves anything, so a status computed under one version holds until the next."""
        saved = self.graph.checkpointer.get_tuple(self._thread)  # type: ignore[union-attr]
        if saved is None:
            return None
        return saved.config["configurable"]["checkpoint_id"], len(saved.pending_writes or ())

    def uncommitted(self) -> dict[str, str | None]:
        """The round's answers that wait for ``step()`` to commit them (a label, or None: set aside)."""
        return self._answered()

    def answers_to_commit(self) -> bool:
        """Whether answers wait for a step to commit them: a paused round with every item answered, or a round
        stopped (a kill, a crash) with its batch answered whole, or after the graph took its answers and before it
        committed them."""
        snapshot = self._snapshot()
        phase = self._phase_of(snapshot)
        waiting = [item.id for item in self._waiting(snapshot)]
        answered = bool(waiting) and len(self.store.answers(waiting)) == len(waiting)
        if phase == "paused":
            return answered
        return phase == "interrupted" and (answered or bool(self._state(snapshot).decisions))

    def held(self) -> set[str]:
        """Items of the round's batch whose answers the graph holds already, no longer open to undo: an earlier
        version handed a partly answered batch to the graph (now a batch goes to it whole)."""
        snapshot = self._snapshot()
        return {item.id for item in self._batch(snapshot)} - {item.id for item in self._waiting(snapshot)}

    def labels(self, *, include_proposed: bool = True) -> list[LabelRecord]:
        """Every label: seeds, people's, accepted machine labels and (by default) proposals, with provenance."""
        return list(self.iter_labels(include_proposed=include_proposed))

    def iter_labels(self, *, include_proposed: bool = True, page: int = 2000) -> Iterator[LabelRecord]:
        """``labels()`` a page at a time: seeds and people's labels by round, then machine labels by id."""
        human = self.store.human()
        relabels = self.store.relabels()
        answered = sorted((h for h in human.values() if h.label is not None), key=lambda h: (h.round, h.id))
        for start in range(0, len(answered), page):
            chunk = answered[start : start + page]
            items = {item.id: item for item in self.context.items([h.id for h in chunk])}
            for answer in chunk:
                item = items[answer.id]
                yield LabelRecord(
                    id=answer.id,
                    text=item.text,
                    label=answer.label or "",
                    source="seed" if answer.kind == "seed" else "human",
                    status="seed" if answer.kind == "seed" else "human",
                    round=answer.round,
                    kind=None if answer.kind == "seed" else answer.kind,
                    annotator_label=answer.machine_label,
                    parent=item.meta.get("parent"),
                    synthetic=bool(item.meta.get("synthetic")),
                    relabelled_from=relabels[answer.id][0].old_label if answer.id in relabels else None,
                    label_history=relabels.get(answer.id, []),
                )
        statuses = ("accepted", "proposed") if include_proposed else ("accepted",)
        verdicts = (v for v in self.store.iter_verdicts(statuses, page=page) if v.id not in human)
        while chunk := list(itertools.islice(verdicts, page)):
            yield from self._machine_records(chunk)

    def _machine_records(self, verdicts: list[StoredVerdict]) -> Iterator[LabelRecord]:
        """The export records of these machine labels."""
        ids = [v.id for v in verdicts]
        machine = self.store.machine_for(ids)
        items = {item.id: item for item in self.context.items(ids)}
        for verdict in verdicts:
            item, made = items[verdict.id], machine.get(verdict.id)
            synthetic = bool(item.meta.get("synthetic"))
            yield LabelRecord(
                id=verdict.id,
                text=item.text,
                label=verdict.label or "",
                source="synthetic" if synthetic else "annotator",
                status=verdict.status,  # type: ignore[arg-type]
                round=made.round if made else verdict.round,
                p_correct=verdict.p_correct,
                confidence=made.confidence if made else None,
                verdict=verdict.status,
                reasons=verdict.reasons,
                annotator_label=verdict.label,
                parent=item.meta.get("parent"),
                synthetic=synthetic,
            )

    def history(self) -> list[dict[str, Any]]:
        """One summary a finished round (``graphs.state.RoundSummary`` as a dict), oldest first."""
        return [summary.model_dump() for summary in self._state().history]

    def estimate(self) -> Estimate | None:
        """The accepted machine labels' estimated accuracy with its interval (None before the first round)."""
        raw = self.store.meta("estimate")
        return Estimate.model_validate_json(raw) if raw else None

    def status(self) -> RunStatus:
        snapshot = self._snapshot()  # read once: each read deserialises the checkpoint
        state = self._state(snapshot)
        history = [summary.model_dump() for summary in state.history]
        waiting_items = self._waiting(snapshot)
        waiting = [item.id for item in waiting_items]
        answered = self._answered(snapshot)
        batch = [item.id for item in self._batch(snapshot)]
        last = history[-1] if history else {}
        counts = self.store.counts()
        records = self.labels(include_proposed=False)
        pool_ids = set(self.context.pool_ids)
        pool = len(pool_ids)
        trained = sum(1 for r in records if not r.synthetic and r.id in pool_ids)
        cost = self.llm.total_cost() if self.llm else 0.0
        todo = len(machine_todo(self.context))
        annotated = len(self.store.machine_ids())
        expected = round(cost / annotated * todo, 4) if self.llm and annotated else (0.0 if not todo else None)
        return RunStatus(
            run=str(self.workspace.path),
            name=self.config.name,
            label_names=self.config.label_names,
            phase=self._phase_of(snapshot),
            round=state.round,
            stop_reason=state.stop_reason,
            pool=pool,
            coverage=round(trained / pool, 4) if pool else 0.0,
            labels=len(records),
            counts=counts,
            by_label=dict(Counter(r.label for r in records)),
            by_source=dict(Counter(r.source for r in records)),
            human_labels=state.human_labels,
            budget=self.config.budget,
            estimate=self.estimate(),
            machine_todo=todo,
            cost=round(cost, 6),
            expected_cost_to_finish=expected,
            pending=[item_id for item_id in waiting if item_id not in answered],
            answered=[item_id for item_id in batch if item_id in answered],
            pending_items=[item for item in waiting_items if item.id not in answered],
            metrics={key: last[key] for key in ("accuracy", "macro_f1") if last.get(key) is not None},
            llm_usage=self.llm.usage(by="agent") if self.llm else {},
            tools=self._tool_summary(),
            history=history,
        )

    def _tool_summary(self) -> dict[str, dict[str, float]]:
        """Each voting tool's coverage (share of annotated texts it voted on) and agreement with people's labels."""
        if not self.context.voters:
            return {}
        human = {h.id: h.label for h in self.store.human().values() if h.label is not None}
        names = [voter.name for voter in self.context.voters]
        annotated, votes, agreed, judged = 0, Counter[str](), Counter[str](), Counter[str]()
        for m in self.store.iter_machine():  # a page at a time: the pool may be large
            annotated += 1
            for name in names:
                if name in m.tool_votes:
                    votes[name] += 1
                    judged[name] += m.id in human
                    agreed[name] += human.get(m.id) == m.tool_votes[name]
        return {
            name: {
                "coverage": round(votes[name] / annotated, 4) if annotated else 0.0,
                "agreement": round(agreed[name] / judged[name], 4) if judged[name] else 0.0,
                "votes": votes[name],
            }
            for name in names
        }

    # -- acting --------------------------------------------------------------------------------------
    def answer(
        self, answers: Mapping[str, str | None] | Iterable[tuple[str, str | None]], *, reviewer: str = "api"
    ) -> int:
        """Record people's answers (a label, or None to set aside) for pending items; return how many.

        The one place answers are validated and stored (the CLI, the terminal review and the HTTP API call it).
        Answers are stored at once and survive a crash; ``step()`` then resumes the graph with them.
        Raises ReviewError for an item that is not pending or a label outside the set, ConflictError
        for an item someone already answered.
        """
        pairs = list(answers.items()) if isinstance(answers, Mapping) else list(answers)
        given = [item_id for item_id, _ in pairs]
        committed = set(self.store.human()) & set(given)
        if committed:
            raise ConflictError(f"already committed: {', '.join(sorted(committed))}")
        waiting = self._waiting()
        answered = self.store.answers(given)  # before the pending check: a step may have just taken them
        if answered:
            raise ConflictError(f"already answered: {', '.join(sorted(answered))}")
        checked = check_answers(pairs, waiting=[item.id for item in waiting], labels=self.config.label_names)
        if not checked:
            return 0
        self.store.put_answers(checked, reviewer=reviewer, round_number=waiting[0].round)
        return len(checked)

    def withdraw(self, item_id: str) -> None:
        """Undo an answer that the graph has not taken yet."""
        if item_id not in {item.id for item in self._waiting()}:
            raise ReviewError(f"item {item_id!r} is not pending review: its answer can no longer be undone")
        if not self.store.withdraw_answer(item_id):
            raise ReviewError(f"item {item_id!r} has no answer to undo")

    def _reconcile_memory(self) -> None:
        """Make the memory hold exactly people's labels (a crash may leave it one write ahead or behind, or
        before a relabelled answer reached it)."""
        human = {h.id: h for h in self.store.human().values() if h.label is not None}
        extra = self.memory.ids() - set(human)
        self.memory.remove(sorted(extra))
        missing = sorted(set(human) - self.memory.ids())
        relabelled = sorted(set(self.store.relabels()) & set(human) - set(missing))
        stale = [i for i, label in self.memory.labels(relabelled).items() if label != human[i].label]
        self.context.remember([human[i] for i in missing + stale])

    def relabel(
        self,
        changes: Mapping[str, str] | Iterable[tuple[str, str]],
        *,
        reviewer: str = "api",
        note: str = "",
    ) -> dict[str, LabelChange]:
        """Replace committed labels (people's answers, seed labels, and items set aside); return the changes made.

        The label store takes the new label and keeps the old one in the item's history (the export's
        ``relabelled_from`` and ``label_history``); the memory takes it at once, the student and the critic
        from the next round (a student fitted now, for ``export --predictions``, too). A label equal to the
        current one changes nothing. All or none: ReviewError for an unknown item or label, or an item with
        no committed answer; RunError while a process runs the loop.
        """
        pairs = list(changes.items()) if isinstance(changes, Mapping) else list(changes)
        if self._held():
            raise RunError(
                f"{self.workspace.path}: a process is running this run; relabel once it pauses or stops "
                "(nothing was changed)"
            )
        names = self.config.label_names
        with self.workspace.lock():
            snapshot = self._snapshot()
            human = self.store.human()
            at = datetime.now(UTC).isoformat(timespec="seconds")
            made: dict[str, LabelChange] = {}
            for item_id, label in pairs:
                if item_id not in human:
                    raise ReviewError(self._not_committed(item_id, snapshot))
                if label not in names:
                    raise ReviewError(f"unknown label {label!r} for item {item_id!r} (labels: {', '.join(names)})")
                old = made[item_id].old_label if item_id in made else human[item_id].label
                made.pop(item_id, None)  # the last change of an item in one call wins
                if label != old:
                    made[item_id] = LabelChange(at=at, by=reviewer, old_label=old, new_label=label, note=note)
            self._check_not_committing(list(made), snapshot)
            self.store.relabel(made.items())
            self.context.remember([human[i].model_copy(update={"label": c.new_label}) for i, c in made.items()])
        return made

    def _not_committed(self, item_id: str, snapshot: Any) -> str:
        """Why ``item_id`` has no committed label to change, and what to do instead."""
        run = self.workspace.path
        waiting = {item.id for item in self._waiting(snapshot)}
        if item_id in waiting and self.store.answers([item_id]):
            return (
                f"item {item_id!r} is answered but not yet committed: change its answer with "
                f"'labelgraph review {run} --answers FILE --correct'"
            )
        if item_id in waiting:
            return f"item {item_id!r} waits for review, unanswered: answer it with 'labelgraph review {run}'"
        verdict = self.store.verdicts_for([item_id]).get(item_id)
        if verdict is not None or self.store.machine_for([item_id]):
            made = f"a {verdict.status} machine label" if verdict is not None else "a machine label"
            return f"item {item_id!r} has {made}, no person's: relabel changes committed answers and seed labels"
        try:
            self.context.items([item_id])
        except KeyError:
            return f"unknown item {item_id!r}"
        return f"item {item_id!r} has no label yet"

    def _check_not_committing(self, ids: list[str], snapshot: Any) -> None:
        """A round stopped inside its commit writes its answers again on resume: relabelling one of them
        now would be undone, so the run must go past its commit first."""
        if "commit" not in (snapshot.next or ()):
            return
        committing = {item.id for item in self._state(snapshot).pending} & set(ids)
        if committing:
            raise RunError(
                f"the round of {', '.join(sorted(committing))} stopped while committing its answers: "
                f"run 'labelgraph resume {self.workspace.path}' first (nothing was changed)"
            )

    def step(self, on_update: Callable[[str, dict[str, Any]], None] | None = None) -> RunStatus:
        """Advance the loop until it needs people's answers or ends; ``on_update(node, update)`` per node. A batch
        answered whole while its round worked is taken at the pause, and the loop goes on. Sets the process's BLAS
        to one thread (``labelgraph.blas``)."""
        with self.workspace.lock():
            phase = self.phase
            if phase == "done" and not self._goes_on():
                return self.status()
            if phase == "new":
                payload: Any = {}  # the prepare node starts the thread from the seed labels
            elif phase == "done":
                payload = {"stop_reason": None}  # the graph's entry sends an ended run on to its next round
            elif phase == "paused":
                answers = self._take_answers()
                if not answers:
                    return self.status()
                payload = Command(resume=answers)
            else:
                payload = None  # continue from the last checkpoint (after a crash, a stop, or new settings)
            if phase == "new":
                self.memory.remove(sorted(self.memory.ids()))  # left by a start that failed before its checkpoint
            else:
                self._reconcile_memory()
            one_blas_thread()  # the loop's many small fits: faster so, and the same sums on any machine
            while True:
                for chunk in self.graph.stream(
                    payload, self._thread, context=self.context, stream_mode="updates", durability="sync"
                ):
                    for node, update in chunk.items():
                        if on_update is not None and node != "__interrupt__":
                            on_update(node, update or {})
                answers = self._take_answers()  # a batch answered whole while its round worked goes on at once
                if not answers:
                    return self.status()
                payload = Command(resume=answers)

    def _take_answers(self) -> dict[str, str | None]:
        """The paused batch's answers, claimed for the graph once every item has one (``{}`` until then, or when
        not paused): a batch goes to the graph whole, so until then every answer can change."""
        snapshot = self._snapshot()
        if self._phase_of(snapshot) != "paused":
            return {}
        return self.store.claim_answers([item.id for item in self._waiting(snapshot)])

    def _goes_on(self) -> bool:
        """Whether a finished run's stop rules no longer hold under its settings now (a larger budget, more
        rounds), asked as the last round's train asked them."""
        state = self._state()
        if not state.history:
            return False
        spent = self.llm.total_cost() if self.llm else 0.0
        before = state.model_copy(update={"history": state.history[:-1]})  # as the last round's train saw it
        return stop_reason(before, self.context, state.history[-1], spent) is None

    def run(
        self,
        human: SimulatedHuman | None = None,
        *,
        on_update: Callable[[str, dict[str, Any]], None] | None = None,
    ) -> RunStatus:
        """Step until the end, letting ``human`` answer every review; without one, stop at the first pause."""
        status = self.step(on_update)
        while status.phase == "paused" and human is not None:
            waiting = self.pending_reviews()
            if waiting:
                self.answer(human.answer(waiting), reviewer="simulated")
            status = self.step(on_update)
        return status

    def predictions(self, *, exclude: Iterable[str] = ()) -> list[LabelRecord]:
        """The student's label and probability for every pool text not in ``exclude`` (status ``predicted``)."""
        skip = set(exclude)
        ids = [i for i in self.context.pool_ids if i not in skip]
        if not ids:
            return []
        probabilities = self.context.predict(self.context.student(), ids)
        names, round_number = self.config.label_names, self._state().round
        texts = {item.id: item.text for item in self.context.items(ids)}
        return [
            LabelRecord(
                id=i,
                text=texts[i],
                label=names[int(row.argmax())],
                source="student",
                status="predicted",
                round=round_number,
                confidence=round(float(row.max()), 4),
            )
            for i, row in zip(ids, probabilities, strict=True)
        ]

    def export(self, path: str | Path, *, include_proposed: bool = True, predictions: bool = False) -> int:
        """Write every label with its provenance, status and p_correct (JSONL, or CSV by suffix); return how many.
        ``predictions``: also the student's prediction for every other pool text (status ``predicted``).

        Written a page at a time (``iter_labels``): seeds and people's labels by round, then machine labels by id,
        then predictions. Beside it, ``<name>.summary.json`` holds the run's estimate of the accepted labels'
        accuracy."""
        path = Path(path)
        by_status: Counter[str] = Counter()
        written: set[str] = set()

        def records() -> Iterator[LabelRecord]:
            for record in self.iter_labels(include_proposed=include_proposed):
                by_status[record.status] += 1
                if predictions:
                    written.add(record.id)
                yield record
            if predictions:
                for record in self.predictions(exclude=written):
                    by_status[record.status] += 1
                    yield record

        count = write_export(records(), path)
        summary = {
            "labels": count,
            "by_status": dict(by_status),
            "estimate": (e.model_dump(mode="json") if (e := self.estimate()) else None),
        }
        write_atomic(path.with_name(path.name + ".summary.json"), (json.dumps(summary, indent=2) + "\n").encode())
        return count

    def export_model(self, folder: str | Path) -> Path:
        """Write the student, fitted on the run's labels, as a folder ``labelgraph predict`` and
        ``labelgraph.load_model`` read (a sentence-transformers encoder plus ``head.json``), with a README of
        how it was trained and on what."""
        training = self.context.training_set()
        student = self.context.student(training)
        people = {h.id for h in self.store.human().values() if h.label is not None}  # people's answers and seeds
        human = sum(item_id in people for item_id in training)
        estimate = self.estimate()
        by_label = Counter(label for label, _ in training.values())
        settings = self.config.student
        readme = "\n".join(
            [
                f"# {self.config.name}: the run's student",
                "",
                f"- Student: `{settings.kind}`"
                + (
                    f" (encoder `{settings.model}` fine-tuned on {getattr(student, 'tuned_on', 0)} labels)"
                    if settings.kind == "finetune"
                    else f" (logistic regression on frozen `{self.config.embedding_model}` vectors)"
                ),
                f"- Trained on {len(training)} labels at round {self._state().round}: {human} from "
                f"people or seeds (weight 1), {len(training) - human} machine labels weighted by p_correct.",
                "- Labels: " + ", ".join(f"{name} {by_label.get(name, 0)}" for name in self.config.label_names),
                (
                    f"- The run estimated its accepted machine labels {estimate.accuracy:.3f} right "
                    f"(lower bound {estimate.lower:.3f})."
                    if estimate and estimate.accuracy is not None and estimate.lower is not None
                    else "- No estimate of the machine labels' accuracy yet."
                ),
                f"- Written {datetime.now(UTC).isoformat(timespec='seconds')} by labelgraph.",
                "",
                "Load it with `labelgraph.load_model(FOLDER).predict(texts)`, or `labelgraph predict FOLDER FILE`.",
                "",
            ]
        )
        return save_student(student, Path(folder), self.config.embedding_model, readme)

    def close(self) -> None:
        try:
            self.context.close()
        finally:
            close_checkpointer(self.graph.checkpointer)  # type: ignore[arg-type]
            self.workspace.close()
