"""The generator and the LLM selector in the loop, through the scripted OpenAI-compatible server."""

from __future__ import annotations

import yaml

from labelgraph.agents.human import SimulatedHuman
from labelgraph.session.run import Project
from labelgraph.stores.synthetic import synthetic_id
from labelgraph.testing import ScriptedLLM
from tests.conftest import EXAMPLE, read_jsonl

POOL = read_jsonl(EXAMPLE / "pool.jsonl")
TEXT_TO_ID = {row["text"]: row["id"] for row in POOL}
GOLD = {row["id"]: row["label"] for row in read_jsonl(EXAMPLE / "gold.jsonl")}
OTHER = {"positive": "negative", "negative": "positive"}
NEW = {
    "positive": ["a warm , witty and wonderful comedy .", "one of the year 's most delightful films ."],
    "negative": ["a tedious , joyless slog .", "a dull , lifeless two hours ."],
}


class Script:
    """The scripted model's writer, flipper and annotator, and what the writer and flipper sent back."""

    def __init__(self) -> None:
        self.written: list[str] = []
        self.flipped: dict[str, str] = {}  # counterfactual text -> the label it was written as
        self.unknown: list[str] = []  # texts the annotator was asked about that nobody wrote

    def writer(self, label: str, count: int) -> list[str]:
        # the first new text twice (a duplicate of each other) and a pool text (a duplicate of the pool)
        texts = [NEW[label][0], NEW[label][0], POOL[0]["text"], NEW[label][1]][:count]
        self.written += texts
        return texts

    def flipper(self, text: str, target: str) -> str:
        """A counterfactual far enough from its parent (by embedding) to survive deduplication."""
        words = text.split()
        edit = f"{target} , if anything : " + " ".join(words[: max(3, len(words) // 2)])
        self.flipped[edit] = target
        return edit

    def labeller(self, text: str) -> str:
        if text in TEXT_TO_ID:
            return GOLD[TEXT_TO_ID[text]]
        if text in self.flipped:  # the annotator never agrees with a counterfactual edit: each is rejected
            return OTHER[self.flipped[text]]
        found = [label for label, texts in NEW.items() if text in texts]
        if not found:
            self.unknown.append(text)
        return found[0] if found else "positive"


def project_with(make_project, server: ScriptedLLM, **settings):
    project = make_project(budget=30, max_rounds=3)
    config = yaml.safe_load(project.read_text())
    config.update(annotator="llm", llm={"model": "scripted", "base_url": server.url}, **settings)
    project.write_text(yaml.safe_dump(config))
    return project


def test_generator_adds_deduplicated_synthetic_items(make_project, gold):
    script = Script()
    with ScriptedLLM(labeller=script.labeller, writer=script.writer, flipper=script.flipper) as server:
        project = project_with(make_project, server, generator={"per_round": 6, "counterfactuals": True})
        run = Project.from_yaml(project).start()
        run.step()
        state = run._state()
        pool = run.context.pool_ids
        synthetic = [i for i in state.machine if i.startswith("syn-")]
        texts = {item.id: item for item in run.context.items(synthetic)}
        assert server.count("generator") >= 2
        assert POOL[0]["text"] in script.written and script.flipped  # the model did send a duplicate and edits
        # round 1's machine lane: the whole unlabelled pool (an LLM annotates 25 x concurrency a round), then
        # the new texts
        assert sorted(state.machine[: len(pool)]) == sorted(pool) and state.machine[len(pool) :] == synthetic
        assert POOL[0]["text"] not in {t.text for t in texts.values()}  # duplicate of a pool text dropped
        assert sorted(t.text for t in texts.values()) == sorted({t.text for t in texts.values()})  # and of each other
        assert all(item_id == synthetic_id(t.text) for item_id, t in texts.items())
        assert all(t.meta["synthetic"] and t.meta["intended"] in {"positive", "negative"} for t in texts.values())
        flips = {i for i, t in texts.items() if t.meta["prompt"] == "counterfactual"}
        assert flips and flips != set(texts)  # counterfactual edits and texts for the rarest label
        assert all(texts[i].meta["parent"] in state.explore for i in flips)  # edits of the person's picks
        verdicts = run.store.verdicts()
        machine = run.store.machine_for(synthetic)
        assert all(machine[i].synthetic and machine[i].intended == texts[i].meta["intended"] for i in synthetic)
        rejected = {i for i in synthetic if verdicts[i].status == "rejected"}
        assert rejected == flips  # labelled otherwise than written: rejected; the rest go through the critic
        for item_id in rejected:
            intended = texts[item_id].meta["intended"]
            assert verdicts[item_id].reasons == [
                f"synthetic text written as {intended!r}, but the annotator labels it {OTHER[intended]!r}"
            ]
            assert verdicts[item_id].p_correct == 0.0
        assert all(verdicts[i].status in {"accepted", "proposed"} for i in set(synthetic) - rejected)
        assert not rejected & {p.id for p in run.pending_reviews()}  # a rejected text is never put to a person

        human = SimulatedHuman(gold, run.config.label_names, unknown=lambda item: script.labeller(item.text))
        status = run.run(human)
        records = {r.id: r for r in run.labels()}
        made_ids = [i for i in run.store.machine() if i.startswith("syn-")]
        verdicts = run.store.verdicts()
        answered = run.store.human()
        training = run.context.training_set()
        rare = [r for r in server.requests if "new, varied texts" in str(r["messages"][-1]["content"])]
        generator_calls = server.count("generator")
    assert not script.unknown
    assert status.phase == "done" and status.round == 3
    all_rejected = {i for i in made_ids if verdicts[i].status == "rejected"}
    assert rejected <= all_rejected and status.counts["rejected"] == len(all_rejected)
    assert not all_rejected & (set(answered) | set(records) | set(training))  # never asked, exported or learnt
    # each text joins the machine lane once: a text proposed, labelled or rejected before is never added again
    assert sum(h["synthetic"] for h in status.history) == len(made_ids) == len(set(made_ids))
    made = [r for r in records.values() if r.id.startswith("syn-")]
    assert {r.id for r in made} == set(made_ids) - all_rejected  # every other synthetic text has a label
    assert all(r.source in {"synthetic", "human"} and r.synthetic for r in made)  # provenance, whoever labelled it
    assert all(r.source == "human" for r in made if r.id in answered)
    assert not any(r.synthetic for r in records.values() if not r.id.startswith("syn-"))
    assert len(rare) == status.round  # a fresh draw each round, not round 1's answer from the cache
    assert all(r["temperature"] == 0.7 for r in rare)
    for record in made:
        item = run.context.items([record.id])[0]
        assert record.parent == item.meta["parent"]
        assert (record.parent is None) == (item.meta["prompt"] == "rare_label")
    assert status.llm_usage["generator"].calls == generator_calls


def test_llm_selector_picks_from_the_shortlist_and_says_why(make_project):
    script = Script()
    # the scripted model picks the last k of the shortlist
    with ScriptedLLM(labeller=script.labeller, chooser=lambda n, k: list(range(n))[-k:]) as server:
        project = project_with(make_project, server, strategy="llm")
        run = Project.from_yaml(project).start()
        run.step()
        state = run._state()
        selector = [r for r in server.requests if "You choose which unlabelled texts" in r["messages"][0]["content"]]
        pending = run.pending_reviews()
    assert len(selector) == 1
    shown = selector[0]["messages"][-1]["content"].count("<text>")  # the shortlist: 3 x the batch
    assert shown == 3 * 10
    explore = state.explore
    assert len(explore) == len(set(explore)) == 10
    assert set(state.why) == set(explore)
    picked = sorted(int(reason.removeprefix("llm: scripted pick ")) for reason in state.why.values())
    assert picked == list(range(shown - 10, shown))  # the model's picks, each with the model's reason
    # the explore slots of the person's batch go to the selector's picks, in its order
    asked = [p.id for p in pending if p.kind == "explore"]
    assert asked and asked == [i for i in explore if i in asked]
    assert all(f"picked by the LLM: {state.why[p.id]}" in p.reasons for p in pending if p.kind == "explore")
    assert all(p.kind in {"fix", "audit"} for p in pending if p.id not in explore)
    assert not script.unknown
