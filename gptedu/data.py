"""The course's data: checksummed loading of the shipped corpora, splits and batches.

Everything lives in `data/` (see data/README.md for sources and licences) and is
checked against `data/SHA256SUMS` before use. Nothing is ever downloaded here.
"""
from __future__ import annotations

import bz2
import csv
import hashlib
import io
import numbers
import os
from functools import lru_cache
from pathlib import Path

import torch

DATA_DIR = Path(os.environ.get("GPTEDU_DATA", Path(__file__).resolve().parents[1] / "data"))
REBUILD = "python scripts/build_data.py"


class DataError(RuntimeError):
    """A shipped data file is missing or not the file it should be."""


@lru_cache(maxsize=1)
def _expected_hashes() -> dict[str, str]:
    sums = DATA_DIR / "SHA256SUMS"
    if not sums.exists():
        raise DataError(f"{sums} is missing: the course's data folder is incomplete. "
                        f"Restore it with `git checkout -- data/` or rebuild it with `{REBUILD}`.")
    fix = f"Restore it with `git checkout -- data/SHA256SUMS` or rebuild data/ with `{REBUILD}`."
    try:
        lines = sums.read_text(encoding="utf-8").splitlines()
    except UnicodeDecodeError:
        raise DataError(f"{sums} is damaged: it is not text. {fix}") from None
    hashes = {}
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        digest, _, name = line.partition("  ")
        if len(digest) != 64 or any(c not in "0123456789abcdef" for c in digest) or not name.strip():
            raise DataError(f"{sums} is damaged: line {number} is {line[:60]!r}, not '<sha256>  <file name>'. {fix}")
        hashes[name] = digest
    if not any(name.startswith("shakespeare/") for name in hashes):
        raise DataError(f"{sums} lists no Shakespeare files ({len(hashes)} entries): it is damaged or empty, "
                        f"and every corpus list would come out empty. {fix}")
    return hashes


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


@lru_cache(maxsize=None)
def _verified(name: str, mtime_ns: int, size: int) -> None:
    """Hash each file once per (mtime, size): cheap to call again, re-checked if the file changes."""
    path = DATA_DIR / name
    got = sha256_file(path)
    if got != _expected_hashes()[name]:
        raise DataError(
            f"data/{name} is not the shipped file (sha256 {got[:12]}..., expected "
            f"{_expected_hashes()[name][:12]}...): it was edited or corrupted. "
            f"Restore it with `git checkout -- data/{name}` or rebuild data/ with `{REBUILD}`.")


def data_path(name: str) -> Path:
    """Path of a shipped file, e.g. data_path('gpt2.tiktoken'), after checking its sha256."""
    expected = _expected_hashes()
    if name not in expected:
        raise DataError(f"{name!r} is not a shipped data file. Known files: "
                        + ", ".join(sorted(n for n in expected if "/" not in n)) + ", shakespeare/<play>.txt")
    path = DATA_DIR / name
    if not path.exists():
        raise DataError(f"data/{name} is missing. Restore it with `git checkout -- data/{name}` "
                        f"or rebuild data/ with `{REBUILD}`.")
    stat = path.stat()
    _verified(name, stat.st_mtime_ns, stat.st_size)
    return path


# ---------------------------------------------------------------- Shakespeare
def list_plays() -> list[str]:
    """Names of the 42 works shipped in data/shakespeare/ (plays, sonnets and poems)."""
    return sorted(name[len("shakespeare/"):-len(".txt")]
                  for name in _expected_hashes() if name.startswith("shakespeare/"))


def load_play(name: str) -> str:
    plays = list_plays()
    if name not in plays:
        import difflib
        close = difflib.get_close_matches(name, plays, n=3)
        hint = f" Did you mean {', '.join(close)}?" if close else ""
        raise DataError(f"No work named {name!r}.{hint} Choose from gptedu.data.list_plays().")
    return data_path(f"shakespeare/{name}.txt").read_text(encoding="utf-8")


# Five plays (a tragedy, a Roman play, two comedies, a romance; ~12% of the corpus) that pretraining
# never sees: they give the validation loss, and the downstream tasks of chapter 06 are built from
# them, so fine-tuning measures transfer to text the model has not memorised.
HELD_OUT_PLAYS = ("julius_caesar", "othello", "tempest", "twelfth_night", "winters_tale")


def pretraining_plays() -> list[str]:
    """The 37 works pretraining may use: everything except HELD_OUT_PLAYS."""
    return [name for name in list_plays() if name not in HELD_OUT_PLAYS]


def load_shakespeare(plays: list[str] | None = None) -> str:
    """The corpus as one string: the chosen works (default: all 42), in name order, blank-line separated."""
    return "\n\n".join(load_play(name) for name in (plays if plays is not None else list_plays()))


# ---------------------------------------------------------------- Rotten Tomatoes
def load_rotten_tomatoes() -> list[tuple[str, int]]:
    """Labelled review snippets: (text, 1) for fresh, (text, 0) for rotten; 7,403 + 5,405 of them.

    The file also holds 1,097 plot summaries, which are not reviews and are dropped.
    """
    raw = bz2.decompress(data_path("rotten_tomatoes_corpus_full.csv.bz2").read_bytes())
    rows = csv.DictReader(io.StringIO(raw.decode("utf-8")))
    label = {"fresh": 1, "rotten": 0}
    return [(row["text"], label[row["category"]]) for row in rows if row["category"] in label]


# ---------------------------------------------------------------- splits and batches
def train_val_split(tokens: torch.Tensor, val_fraction: float = 0.1) -> tuple[torch.Tensor, torch.Tensor]:
    """Split a 1-D token tensor: the first (1 - val_fraction) for training, the rest for validation."""
    if not 0.0 < val_fraction < 1.0:
        raise ValueError(f"val_fraction must be between 0 and 1, got {val_fraction}.")
    n = int(len(tokens) * (1.0 - val_fraction))
    return tokens[:n], tokens[n:]


def get_batch(data: torch.Tensor, batch_size: int, block_size: int,
              generator: torch.Generator | None = None,
              device: str | torch.device = "cpu", *,
              vocab_size: int | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """Random windows of a 1-D token tensor: inputs x and next-token targets y, both (batch_size, block_size).

    Each batch's ids are checked (one min/max): never negative, and below vocab_size if it is given.
    """
    fix = "Use torch.tensor(tokenizer.encode(text), dtype=torch.long)."
    if not isinstance(data, torch.Tensor):
        raise TypeError(f"data must be a 1-D tensor of token ids; got a {type(data).__name__}. {fix}")
    if data.dim() != 1 or data.dtype == torch.bool or data.dtype.is_floating_point or data.dtype.is_complex:
        raise ValueError(f"data must be a 1-D tensor of token ids (dtype long); got shape {tuple(data.shape)}, "
                         f"dtype {data.dtype}. {fix}")
    for name, value in (("batch_size", batch_size), ("block_size", block_size)):
        if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 1:
            raise ValueError(f"{name}={value!r} must be a positive integer.")
    if len(data) <= block_size:
        raise ValueError(f"The data has {len(data)} tokens, too few for windows of block_size={block_size} "
                         f"(+1 for the target). Use more text or a smaller block_size.")
    starts = torch.randint(len(data) - block_size, (batch_size,), generator=generator)
    offsets = torch.arange(block_size)
    x = data[starts[:, None] + offsets]  # (B, T)
    y = data[starts[:, None] + offsets + 1]  # (B, T), shifted by one
    _check_ids(x, y, vocab_size)
    return x.to(device), y.to(device)


def _check_ids(x: torch.Tensor, y: torch.Tensor, vocab_size: int | None) -> None:
    """Refuse a batch holding a negative id, or one >= vocab_size, before it reaches a model."""
    (x_lo, x_hi), (y_lo, y_hi) = torch.aminmax(x), torch.aminmax(y)
    lo, hi = min(int(x_lo), int(y_lo)), max(int(x_hi), int(y_hi))
    if lo < 0:
        raise ValueError(f"data holds the negative token id {lo}; token ids are never negative. "
                         f"Check how the data was made: use tokenizer.encode(text).")
    if vocab_size is not None and hi >= vocab_size:
        raise ValueError(f"data holds token id {hi}, but vocab_size={vocab_size} (ids must be in "
                         f"[0, {vocab_size})). The tokenizer and the model disagree: build the model "
                         f"with vocab_size=tokenizer.vocab_size.")
