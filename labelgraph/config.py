"""Project settings: one YAML file, validated by pydantic, with paths resolved against the file's folder."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from labelgraph.errors import ConfigError

__all__ = ["CriticSettings", "ProjectConfig", "format_validation_error", "load_project"]


class CriticSettings(BaseModel):
    """When the embedded critic accepts a label; anything short of these goes to a person."""

    model_config = ConfigDict(extra="forbid")

    min_confidence: float = Field(0.7, ge=0, le=1, description="annotator confidence needed to accept")
    min_neighbour_agreement: float = Field(
        0.6, ge=0, le=1, description="similarity-weighted share of labelled neighbours that must agree"
    )
    min_student_probability: float = Field(
        0.5, ge=0, le=1, description="probability the student model must give the label"
    )
    min_labels_to_trust: int = Field(
        10, ge=0, description="below this many labels the student and neighbours cannot vouch for a label"
    )


class ProjectConfig(BaseModel):
    """A labelling project: the pool, the labels, and how the loop runs."""

    model_config = ConfigDict(extra="forbid")

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
    strategy: str = "hybrid"
    annotator: str = "embedded"
    critic: CriticSettings = CriticSettings()
    neighbours: int = Field(10, ge=1, description="labelled neighbours the annotator and critic consult")
    embedding_model: str = "minilm"
    run_dir: Path | None = None
    random_seed: int = 0
    max_text_chars: int = Field(20_000, ge=1)

    @field_validator("labels", mode="before")
    @classmethod
    def _labels_from_list(cls, value: Any) -> Any:
        if isinstance(value, list):
            return {str(name): "" for name in value}
        return value

    @field_validator("labels")
    @classmethod
    def _at_least_two_labels(cls, value: dict[str, str]) -> dict[str, str]:
        if len(value) < 2:
            raise ValueError(f"needs at least two labels, got {sorted(value)}")
        for name in value:
            if not name.strip():
                raise ValueError("a label name is empty")
        return value

    @model_validator(mode="after")
    def _budget_fits_a_batch(self) -> ProjectConfig:
        if self.budget < self.batch_size:
            raise ValueError(f"budget ({self.budget}) is smaller than one batch ({self.batch_size})")
        return self

    @property
    def label_names(self) -> list[str]:
        return list(self.labels)

    def resolved(self, base: Path) -> ProjectConfig:
        """A copy with every relative path made absolute against ``base``."""

        def absolute(path: Path | None) -> Path | None:
            return None if path is None else (path if path.is_absolute() else (base / path).resolve())

        run_dir = self.run_dir if self.run_dir is not None else Path("runs") / self.name
        return self.model_copy(
            update={
                "pool": absolute(self.pool),
                "seed": absolute(self.seed),
                "test": absolute(self.test),
                "run_dir": absolute(run_dir),
            }
        )


def format_validation_error(error: ValidationError, source: object) -> str:
    """One line per problem: ``source: field 'a.b': message``."""
    lines = []
    for problem in error.errors():
        field = ".".join(str(part) for part in problem["loc"]) or "(top level)"
        lines.append(f"{source}: field {field!r}: {problem['msg']}")
    return "\n".join(lines)


def load_project(path: str | Path) -> ProjectConfig:
    """Read, validate and resolve a project file; raise ConfigError naming the file, line or field."""
    path = Path(path)
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"{path}: project file not found") from None
    except UnicodeDecodeError as error:
        raise ConfigError(f"{path}: not UTF-8 text ({error.reason} at byte {error.start})") from None
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        where = f", line {mark.line + 1}" if mark is not None else ""
        raise ConfigError(f"{path}{where}: not valid YAML: {getattr(error, 'problem', error)}") from None
    if not isinstance(raw, dict):
        raise ConfigError(f"{path}: a project file is a YAML mapping of settings")
    try:
        config = ProjectConfig.model_validate(raw)
    except ValidationError as error:
        raise ConfigError(format_validation_error(error, path)) from None
    return config.resolved(path.resolve().parent)
