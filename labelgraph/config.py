"""Project settings: one YAML file, validated by pydantic, with paths resolved against the file's folder.

Limits: a project file is a regular file of at most ``MAX_PROJECT_BYTES`` (1 MB) of UTF-8 YAML, nested at most
``MAX_YAML_DEPTH`` (100) levels and at most ``MAX_YAML_NODES`` (100,000) values once aliases are expanded (an
alias bomb fails at once); a key given twice in one mapping is an error. Numbers must be finite.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import (
    AliasChoices,
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationError,
    field_validator,
    model_validator,
)

from labelgraph.data import read_limited
from labelgraph.errors import ConfigError, DataError

MAX_PROJECT_BYTES = 1_000_000
"""Largest project file."""
MAX_YAML_DEPTH = 100
"""Deepest nesting of a project file, aliases expanded."""
MAX_YAML_NODES = 100_000
"""Most values in a project file, aliases expanded."""

_STRICT = ConfigDict(extra="forbid", allow_inf_nan=False)
NonBlank = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1)]

__all__ = [
    "CheckpointSettings",
    "CriticSettings",
    "LLMSettings",
    "MachineSettings",
    "MemorySettings",
    "Prices",
    "ProjectConfig",
    "QualitySettings",
    "ScaleSettings",
    "StabilitySettings",
    "ToolSettings",
    "check_run_dir",
    "format_validation_error",
    "load_project",
]


class CriticSettings(BaseModel):
    """How the critic turns its signals into ``p_correct``."""

    model_config = _STRICT

    min_checks: int = Field(
        20, ge=4, description="checked machine labels needed before p_correct ranks labels (before: their accuracy)"
    )
    cs: list[Annotated[float, Field(gt=0)]] = Field(
        [0.01, 0.03, 0.1, 0.3, 1.0, 3.0], min_length=1, description="inverse regularisations tried by cross-validation"
    )
    folds: int = Field(5, ge=2, le=20, description="folds of the out-of-fold consensus model")
    consensus_rows: int = Field(5000, ge=100, description="most machine labels the consensus model trains on")
    neighbours: int = Field(10, ge=1, description="human-labelled neighbours consulted")


class QualitySettings(BaseModel):
    """The quality target: machine labels are accepted while the accepted set's lower accuracy bound meets it
    (``labelgraph.critic.acceptance``); the person's batch is drawn to certify them (``labelgraph.critic.batch``)."""

    model_config = _STRICT

    enabled: bool = Field(
        True, description="false: accept every machine label unchecked (no quality target; a baseline for evals)"
    )
    target_accuracy: float = Field(0.95, gt=0, le=1, description="accuracy the accepted machine labels must reach")
    confidence: float = Field(
        0.9, ge=0.5, lt=1, description="one-sided confidence of the lower bound, over every round's test at once"
    )
    audit: float = Field(
        0.05,
        ge=0,
        le=1,
        description="share of each batch drawn uniformly from the whole pool, so every label can be checked",
    )
    explore: float = Field(
        0.3, ge=0, le=1, description="share of each batch drawn from the strategy's picks (the rest: audits and fixes)"
    )
    min_checks: int = Field(30, ge=1, description="checks a set needs inside it before it is tested")


class MachineSettings(BaseModel):
    """The machine lane: how much of the pool the annotator labels, and how much a round."""

    model_config = _STRICT

    scope: float | int | Literal["all"] = Field(
        "all", description="'all', a number of texts, or a share of the pool (0 to 1)"
    )
    per_round: int | None = Field(
        None, ge=1, description="texts annotated a round (default: all at once; an LLM: 25 per unit of concurrency)"
    )

    @field_validator("scope")
    @classmethod
    def _scope(cls, value: float | int | str) -> float | int | str:
        if isinstance(value, float) and not 0 < value <= 1:
            raise ValueError(f"a share of the pool lies in (0, 1], got {value}")
        if isinstance(value, int) and not isinstance(value, bool) and value < 0:
            raise ValueError(f"a number of texts is 0 or more, got {value}")
        return value

    def size(self, pool: int) -> int:
        """How many pool texts the machine lane covers."""
        if self.scope == "all":
            return pool
        if isinstance(self.scope, float):
            return round(self.scope * pool)
        return min(int(self.scope), pool)


class Prices(BaseModel):
    """US dollars per million tokens, to turn token counts into cost."""

    model_config = _STRICT

    input: float = Field(0.0, ge=0)
    output: float = Field(0.0, ge=0)


class LLMSettings(BaseModel):
    """A chat model: a LangChain ``init_chat_model`` string, or an OpenAI-compatible endpoint (``base_url``)."""

    model_config = _STRICT

    model: NonBlank = Field(description="'openai:gpt-4o-mini', 'ollama:qwen2.5', or the model name at base_url")
    base_url: str | None = Field(None, description="an OpenAI-compatible server: vLLM, Ollama, llama.cpp, OpenAI")
    api_key_env: str | None = Field(None, description="the environment variable that holds the API key")
    temperature: float = Field(0.0, ge=0, le=2)
    samples: int = Field(1, ge=1, le=20, description="answers per item; their votes give the label distribution")
    sample_temperature: float = Field(0.7, ge=0, le=2, description="temperature of samples after the first")
    logprobs: bool = Field(False, description="ask for token log-probabilities (OpenAI-compatible servers)")
    concurrency: int = Field(8, ge=1, le=256)
    timeout: float = Field(60.0, gt=0, description="seconds per request")
    max_retries: int = Field(4, ge=0, le=20)
    max_wait: float = Field(60.0, gt=0, description="longest wait between retries, in seconds")
    prices: Prices = Prices()
    cost_budget: float | None = Field(None, gt=0, description="stop the loop once LLM calls cost this much (USD)")

    @model_validator(mode="before")
    @classmethod
    def _from_string(cls, value: Any) -> Any:
        return {"model": value} if isinstance(value, str) else value

    @model_validator(mode="after")
    def _budget_needs_prices(self) -> LLMSettings:
        if self.cost_budget is not None and not (self.prices.input or self.prices.output):
            raise ValueError("cost_budget needs prices (USD per million input/output tokens): every call costs 0")
        return self


class GeneratorSettings(BaseModel):
    """The LLM generator: new texts for rare labels and counterfactual edits of uncertain items."""

    model_config = _STRICT

    per_round: int = Field(4, ge=1, le=100, description="most synthetic texts a round may add")
    counterfactuals: bool = Field(True, description="also edit uncertain items minimally to flip their label")
    max_similarity: float = Field(0.92, gt=0, le=1, description="cosine above which a new text is a duplicate")


class MemorySettings(BaseModel):
    """Where the vector memory lives: embedded in the run folder (default), or a Chroma server."""

    model_config = _STRICT

    url: str | None = Field(None, description="a Chroma server, e.g. http://127.0.0.1:8000 ('chroma run')")

    @field_validator("url")
    @classmethod
    def _http_url(cls, value: str | None) -> str | None:
        if value is not None and not value.startswith(("http://", "https://")):
            raise ValueError(f"memory url {value!r} must start with http:// or https://")
        return value


class StabilitySettings(BaseModel):
    """Stop once the student's predictions on a fixed sample of the pool stop changing between rounds."""

    model_config = _STRICT

    kappa: float = Field(0.99, ge=-1, le=1, description="Cohen's kappa between consecutive rounds' predictions")
    rounds: int = Field(3, ge=1, description="consecutive rounds at or above kappa")
    sample: int = Field(1000, ge=10, description="pool items whose predictions are compared")


class StudentSettings(BaseModel):
    """The student the loop retrains every round: ``logistic`` regression on the frozen embeddings (fast, the
    default), ``finetune`` (the encoder trained end to end; better, slower on a CPU), or a ``module:Class``."""

    model_config = _STRICT

    kind: NonBlank = Field("logistic", description="logistic | finetune | module:Class taking (labels)")
    model: NonBlank = Field(
        "minilm", description="finetune: the encoder to start from (minilm, all-mpnet-base-v2, a folder or a hub id)"
    )
    epochs: int = Field(3, ge=1, le=50, description="finetune: epochs of the first fine-tuning")
    warm_epochs: int = Field(1, ge=1, le=50, description="finetune: epochs of a later one, from the last weights")
    learning_rate: float = Field(5e-5, gt=0, le=1e-2)
    batch_size: int = Field(16, ge=1, le=512)
    max_length: int = Field(128, ge=8, le=512, description="finetune: tokens per text (longer ones are cut)")
    min_labels: int = Field(40, ge=2, description="finetune: below this many labels the encoder stays frozen")
    retune_growth: float = Field(
        0.25,
        ge=0,
        description="finetune: tune the encoder again once the labels grew by this share; in between "
        "only the head refits (a few seconds)",
    )

    @model_validator(mode="before")
    @classmethod
    def _from_kind(cls, value: Any) -> Any:
        return {"kind": value} if isinstance(value, str) else value

    @field_validator("kind")
    @classmethod
    def _known_kind(cls, value: str) -> str:
        if value not in {"logistic", "finetune"} and ":" not in value:
            raise ValueError(f"student kind is logistic, finetune or module:Class, got {value!r}")
        return value


class ScaleSettings(BaseModel):
    """Where embedding runs: in this process (``ray: off``, the default), or fanned out over a Ray cluster:
    ``auto`` (``$RAY_ADDRESS`` or a cluster started on this machine, else a new local one), ``ray://HOST:10001``
    (Ray Client) or ``HOST:6379`` (a cluster's GCS address). Needs ``pip install 'labelgraph[ray]'``."""

    model_config = _STRICT

    ray: str = Field("off", description="off | auto | ray://HOST:10001 | HOST:PORT")
    vectors: Literal["float32", "float16"] = Field(
        "float32",
        description="how a new run folder stores its vectors: float16 halves them (1M x 384: 0.77 GB, not 1.5 GB), "
        "computed on as float32; the picks and neighbours barely move (benchmarks/float16_vectors.py)",
    )

    @field_validator("ray", mode="before")
    @classmethod
    def _ray_address(cls, value: Any) -> Any:
        if isinstance(value, bool):  # YAML reads a bare off / on as false / true
            return "auto" if value else "off"
        if not isinstance(value, str):
            raise ValueError(f"scale.ray is off, auto or a cluster address, got {type(value).__name__} {value!r}")
        value = value.strip()
        if value.lower() in {"off", "auto"}:
            return value.lower()
        if not re.fullmatch(r"(ray://)?[A-Za-z0-9._-]+:[0-9]{1,5}", value):
            raise ValueError(f"scale.ray is off, auto, ray://HOST:PORT or HOST:PORT, got {value[:80]!r}")
        return value


class CheckpointSettings(BaseModel):
    """Where checkpoints live: SQLite in the run folder (default), or PostgreSQL named by an environment variable."""

    model_config = _STRICT

    postgres_env: str | None = Field(
        None, description="the environment variable that holds a postgresql:// DSN (kept out of the project file)"
    )


class ToolSettings(BaseModel):
    """A tool by dotted path or entry-point name; ``vote: true`` makes it a labelling function."""

    model_config = _STRICT

    path: NonBlank
    vote: bool = False

    @model_validator(mode="before")
    @classmethod
    def _from_string(cls, value: Any) -> Any:
        return {"path": value} if isinstance(value, str) else value


def _label_name(value: Any) -> str:
    """A label name from YAML: a string, or a whole number (written as text)."""
    if isinstance(value, bool):
        raise ValueError(f"label {value} is read as true/false: quote it ('{'yes' if value else 'no'}')")
    if isinstance(value, int):
        return str(value)
    if not isinstance(value, str):
        raise ValueError(f"a label name is a string, got {type(value).__name__} {str(value)[:40]!r}")
    return value


def _label_description(value: Any) -> str:
    """A label's description: a string, or nothing."""
    if value is None:
        return ""
    if not isinstance(value, str):
        raise ValueError(f"a label's description is a string, got {type(value).__name__} {str(value)[:40]!r}")
    return value


class ProjectConfig(BaseModel):
    """A labelling project: the pool, the labels, and how the loop runs."""

    model_config = _STRICT

    name: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
    pool: Path
    labels: dict[str, str] = Field(description="label name -> one-line description")
    text_field: str = "text"
    id_field: str = "id"
    label_field: str = "label"
    seed: Path | None = None
    test: Path | None = None
    batch_size: int = Field(20, ge=1)
    budget: int = Field(100, ge=1, description="human labels the run may ask for")
    max_rounds: int = Field(10, ge=1)
    stop_when_stable: StabilitySettings | None = Field(None, description="stop when predictions stabilise")
    strategy: NonBlank = "hybrid"
    annotator: NonBlank = Field("embedded", description="embedded | llm | none | module:factory")
    critic: CriticSettings = CriticSettings()
    student_learns_from: Literal["auto", "accepted", "all"] = Field(
        "auto",
        description="machine labels the student trains on, weighted by p_correct: accepted ones, proposals too, "
        "or (auto) proposals too once blind checks show the machine more often right than the student",
    )
    student: StudentSettings = StudentSettings()
    machine: MachineSettings = MachineSettings()
    quality: QualitySettings = QualitySettings()
    critic_llm: bool = Field(False, description="also ask the LLM to judge each label (needs llm)")
    llm: LLMSettings | None = None
    generator: GeneratorSettings | None = Field(None, description="write synthetic examples (needs llm)")
    tools: list[ToolSettings] = Field(default_factory=list, description="LangChain tools the agents may use")
    tool_steps: int = Field(3, ge=1, le=10, description="most tool calls an LLM agent makes for one item")
    neighbours: int = Field(10, ge=1, description="labelled neighbours the annotator and critic consult")
    embedding_model: NonBlank = Field(
        default_factory=lambda: _default_encoder(),
        validation_alias=AliasChoices("embedding", "embedding_model"),
        description="the encoder, written `embedding:` (`embedding_model:` is read too): all-mpnet-base-v2 (the "
        "default), minilm (all-MiniLM-L6-v2), a sentence-transformers folder, a hub id, or module:factory; a project "
        "that names none keeps the encoder its run folder has",
    )
    memory: MemorySettings = MemorySettings()
    checkpoints: CheckpointSettings = CheckpointSettings()
    scale: ScaleSettings = Field(ScaleSettings(), description="embed over a Ray cluster (scale: {ray: auto})")
    run_dir: Path | None = None
    random_seed: int = Field(0, ge=0, le=2**32 - 1, description="seed of every random choice (0 to 2**32 - 1)")
    max_text_chars: int = Field(20_000, ge=1)

    @field_validator("labels", mode="before")
    @classmethod
    def _labels_from_list(cls, value: Any) -> Any:
        if isinstance(value, list):
            names = [_label_name(name) for name in value]
            twice = sorted({name for name in names if names.count(name) > 1})
            if twice:
                raise ValueError(f"label {twice[0]!r} is listed twice")
            return dict.fromkeys(names, "")
        if isinstance(value, dict):
            return {_label_name(name): _label_description(text) for name, text in value.items()}
        raise ValueError("labels are a list of names, or a mapping of name -> one-line description")

    @field_validator("labels")
    @classmethod
    def _at_least_two_labels(cls, value: dict[str, str]) -> dict[str, str]:
        if len(value) < 2:
            raise ValueError(f"needs at least two labels, got {sorted(value)}")
        for name in value:
            if not name.strip():
                raise ValueError("a label name is empty")
            if not name.isprintable():
                raise ValueError(f"label {name!r} has a line break or control character")
        return value

    @model_validator(mode="before")
    @classmethod
    def _one_embedding_key(cls, value: Any) -> Any:
        if isinstance(value, dict) and "embedding" in value and "embedding_model" in value:
            raise ValueError("give the encoder once: 'embedding' (or its older name 'embedding_model'), not both")
        return value

    @field_validator("embedding_model")
    @classmethod
    def _canonical_encoder(cls, value: str) -> str:
        from labelgraph.encoding.encoders import canonical

        return canonical(value)  # all-MiniLM-L6-v2 is minilm, mpnet is all-mpnet-base-v2: one name, one run folder

    @field_validator("pool", "seed", "test", "run_dir")
    @classmethod
    def _no_nul(cls, value: Path | None) -> Path | None:
        if value is not None and "\0" in str(value):
            raise ValueError("a path cannot hold a NUL character")
        return value

    @model_validator(mode="before")
    @classmethod
    def _valid_unicode(cls, value: Any) -> Any:
        """No lone surrogate anywhere (run.json and API callers; a project file's loader names the line)."""
        stack: list[tuple[str, Any]] = [("", value)]
        while stack:
            where, item = stack.pop()
            if isinstance(item, dict):
                stack.extend((f"{where}.{key}".strip("."), inner) for key, inner in item.items())
                stack.extend((where, key) for key in item)
            elif isinstance(item, list | tuple):
                stack.extend((f"{where}.{index}".strip("."), inner) for index, inner in enumerate(item))
            elif isinstance(item, str) and (code := _lone_surrogate(item)):
                raise ValueError(f"a lone surrogate ({code}) in {where or 'a key'!r}: not valid Unicode")
        return value

    @model_validator(mode="after")
    def _budget_fits_a_batch(self) -> ProjectConfig:
        if self.budget < self.batch_size:
            raise ValueError(f"budget ({self.budget}) is smaller than one batch ({self.batch_size})")
        if (self.annotator == "llm" or self.critic_llm or self.generator or self.strategy == "llm") and not self.llm:
            raise ValueError("annotator 'llm', critic_llm, generator and strategy 'llm' need an 'llm' section")
        return self

    @property
    def label_names(self) -> list[str]:
        return list(self.labels)

    def resolved(self, base: Path) -> ProjectConfig:
        """A copy with every relative path made absolute against ``base``."""

        def absolute(path: Path | None) -> Path | None:  # realpath: a symbolic-link loop is left to the reader
            return None if path is None else (path if path.is_absolute() else Path(os.path.realpath(base / path)))

        run_dir = self.run_dir if self.run_dir is not None else Path("runs") / self.name
        update: dict[str, Any] = {
            "pool": absolute(self.pool),
            "seed": absolute(self.seed),
            "test": absolute(self.test),
            "run_dir": absolute(run_dir),
        }
        if _relative_folder(self.embedding_model, base) != self.embedding_model:  # else: still unset if it was
            update["embedding_model"] = _relative_folder(self.embedding_model, base)
        return self.model_copy(update=update)


def _default_encoder() -> str:
    from labelgraph.encoding.encoders import default_encoder

    return default_encoder()


def _relative_folder(spec: str, base: Path) -> str:
    """An encoder named by a relative folder (``./models/x``, ``../x``) is read against the project file's folder."""
    if spec.startswith(("./", "../")):
        return os.path.realpath(base / spec)
    return spec


def _line_of(node: yaml.Node | None, loc: tuple[Any, ...]) -> int | None:
    """The line (1-based) of the YAML node at ``loc`` (keys and list positions), or of its nearest parent."""
    if node is None or not loc:
        return None
    line = node.start_mark.line + 1
    for part in loc:
        if isinstance(node, yaml.MappingNode):
            match = next(((k, v) for k, v in node.value if getattr(k, "value", None) == str(part)), None)
            if match is None:
                break
            line, node = match[0].start_mark.line + 1, match[1]
        elif isinstance(node, yaml.SequenceNode) and isinstance(part, int) and part < len(node.value):
            node = node.value[part]
            line = node.start_mark.line + 1
        else:
            break
    return line


def format_validation_error(error: ValidationError, source: object, document: yaml.Node | None = None) -> str:
    """One line per problem: ``source, line N: field 'a.b': message`` (the line when ``document`` is given)."""
    lines = []
    for problem in error.errors():
        loc = tuple(problem["loc"])
        field = ".".join(str(part) for part in loc) or "(top level)"
        message = "unknown setting" if problem["type"] == "extra_forbidden" else problem["msg"]
        message = message.removeprefix("Value error, ")
        line = _line_of(document, loc)
        where = f"{source}, line {line}" if line is not None else f"{source}"
        lines.append(f"{where}: field {field!r}: {message}")
    return "\n".join(lines)


class _YAMLLimit(yaml.YAMLError):
    """A project file beyond the loader's limits (depth, size once aliases are expanded, a key twice)."""

    def __init__(self, problem: str, mark: yaml.Mark | None):
        super().__init__(problem)
        self.problem, self.problem_mark = problem, mark


class _LimitedLoader(yaml.SafeLoader):
    """PyYAML's safe loader, refusing to compose a document nested deeper than ``MAX_YAML_DEPTH``."""

    def __init__(self, stream: str):
        super().__init__(stream)
        self._depth = 0

    def compose_node(self, parent: yaml.Node | None, index: Any) -> yaml.Node:
        if self._depth >= MAX_YAML_DEPTH:
            raise _YAMLLimit(f"nested deeper than {MAX_YAML_DEPTH} levels", self.peek_event().start_mark)
        self._depth += 1
        try:
            return super().compose_node(parent, index)  # type: ignore[no-any-return]
        finally:
            self._depth -= 1


def _children(node: yaml.Node) -> list[yaml.Node]:
    if isinstance(node, yaml.MappingNode):
        return [part for pair in node.value for part in pair]
    return list(node.value) if isinstance(node, yaml.SequenceNode) else []


def _lone_surrogate(text: str) -> str | None:
    """The first lone surrogate in ``text`` as an escape (``\\ud83d``), or None if it is valid Unicode."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as error:
        return f"\\u{ord(text[error.start]):04x}"
    return None


def _check_node(node: yaml.Node) -> None:
    """A key given twice in one mapping (YAML readers disagree on which one wins) or a lone surrogate."""
    if isinstance(node, yaml.ScalarNode) and (code := _lone_surrogate(node.value)):
        raise _YAMLLimit(f"a lone surrogate ({code}): not valid Unicode (half of an emoji?)", node.start_mark)
    if not isinstance(node, yaml.MappingNode):
        return
    seen: set[str] = set()
    for key, _ in node.value:
        if isinstance(key, yaml.ScalarNode) and key.tag != "tag:yaml.org,2002:merge":
            if key.value in seen:
                raise _YAMLLimit(f"the key {key.value[:40]!r} is given twice", key.start_mark)
            seen.add(key.value)


def _check_expanded(root: yaml.Node) -> None:
    """Refuse a document whose aliases expand it beyond ``MAX_YAML_NODES`` values or ``MAX_YAML_DEPTH`` levels.

    Each distinct node is visited once (sizes are memoised), so an alias bomb is measured, never expanded."""
    size: dict[int, tuple[int, int]] = {}  # id(node) -> (values, depth), aliases expanded
    open_nodes: set[int] = set()
    stack: list[tuple[yaml.Node, bool]] = [(root, False)]
    while stack:
        node, finished = stack.pop()
        key = id(node)
        if finished:
            parts = [size[id(child)] for child in _children(node)]
            values = 1 + sum(count for count, _ in parts)
            depth = 1 + max((level for _, level in parts), default=0)
            if values > MAX_YAML_NODES or depth > MAX_YAML_DEPTH:
                limit = f"more than {MAX_YAML_NODES:,} values" if values > MAX_YAML_NODES else "too deeply nested"
                raise _YAMLLimit(f"aliases expand the document to {limit}", node.start_mark)
            size[key] = (values, depth)
            open_nodes.discard(key)
        elif key in open_nodes:
            raise _YAMLLimit("an alias refers to a value that holds it", node.start_mark)
        elif key not in size:
            _check_node(node)
            open_nodes.add(key)
            stack.append((node, True))
            stack.extend((child, False) for child in _children(node))


_QUOTED_OR_COMMENT = re.compile(r"""'(?:[^']|'')*'|"(?:[^"\\]|\\.)*"|#[^\n]*""")


def _check_flow_depth(text: str) -> None:
    """Refuse ``[`` and ``{`` nested beyond ``MAX_YAML_DEPTH`` before PyYAML's scanner, which takes O(depth) a
    bracket on them; brackets in quotes and comments do not count (the loader's own check stays the rule)."""
    blanked = _QUOTED_OR_COMMENT.sub(lambda match: re.sub(r"[^\n]", " ", match.group()), text)
    depth = 0
    for match in re.finditer(r"[\[\]{}]", blanked):
        depth = depth + 1 if match.group() in "[{" else max(depth - 1, 0)
        if depth > MAX_YAML_DEPTH:
            line = text.count("\n", 0, match.start())
            mark = yaml.Mark("", match.start(), line, 0, None, None)
            raise _YAMLLimit(f"nested deeper than {MAX_YAML_DEPTH} levels", mark)


def _parse_yaml(text: str) -> tuple[Any, yaml.Node | None]:
    """The document and its node tree, within the loader's limits; yaml.YAMLError otherwise."""
    _check_flow_depth(text)
    loader = _LimitedLoader(text)
    try:
        node = loader.get_single_node()
        if node is None:
            return None, None
        _check_expanded(node)
        return loader.construct_document(node), node
    finally:
        loader.dispose()


def check_run_dir(config: ProjectConfig, project_dir: Path | None = None) -> None:
    """Refuse a run folder that is (or holds) the project's folder, or that holds one of its input files."""
    assert config.run_dir is not None, "config must be resolved first"
    run_dir = Path(os.path.realpath(config.run_dir))
    advice = f"name a folder of its own for run_dir, e.g. runs/{config.name}"
    if project_dir is not None and Path(os.path.realpath(project_dir)).is_relative_to(run_dir):
        raise ConfigError(
            f"run_dir {run_dir} is the project's own folder or holds it: the run would write its files among "
            f"yours; {advice}"
        )
    for field in ("pool", "seed", "test"):
        path = getattr(config, field)
        if path is not None and Path(os.path.realpath(path)).is_relative_to(run_dir):
            raise ConfigError(
                f"run_dir {run_dir} holds the {field} file {path}: the run would write its files among yours; {advice}"
            )


def load_project(path: str | Path) -> ProjectConfig:
    """Read, validate and resolve a project file; raise ConfigError naming the file, line or field.

    A new run's folder is checked too (see ``check_run_dir``); an existing one is left to open as it is."""
    path = Path(path)
    try:
        text = read_limited(path, limit=MAX_PROJECT_BYTES).decode("utf-8")
        raw, document = _parse_yaml(text)
    except DataError as error:
        message = str(error).replace("file not found", "project file not found")
        raise ConfigError(message) from None
    except UnicodeDecodeError as error:
        raise ConfigError(f"{path}: not UTF-8 text ({error.reason} at byte {error.start})") from None
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        where = f", line {mark.line + 1}" if mark is not None else ""
        raise ConfigError(f"{path}{where}: not valid YAML: {getattr(error, 'problem', None) or error}") from None
    if not isinstance(raw, dict):
        raise ConfigError(f"{path}: a project file is a YAML mapping of settings")
    try:
        config = ProjectConfig.model_validate(raw)
    except ValidationError as error:
        raise ConfigError(format_validation_error(error, path, document)) from None
    resolved = config.resolved(Path(os.path.realpath(path)).parent)
    assert resolved.run_dir is not None
    if not (resolved.run_dir / "run.json").exists():
        check_run_dir(resolved, Path(os.path.realpath(path)).parent)
    return resolved
