"""Save and load models safely: config + weights in one file that carries its own sha256.

A checkpoint `run.pt` is a three-line text header followed by a plain dict of tensors and
Python values in torch.save's format:

    gptedu-checkpoint v2
    sha256 <64 hex digits: the hash of everything after the header>
    bytes 00000000000000123456   <- how many bytes follow the header

load_checkpoint checks the size and the sha256 before anything is unpickled, then reads the
dict with `torch.load(weights_only=True)`, which cannot run code hidden in a file. The digest
travels inside the file, so there is no second file that could fall out of step with it.

Saving survives interruption. The file is written under a temporary name in the same folder,
flushed to disk, then renamed over `run.pt` with os.replace, which is atomic: at every instant
`run.pt` is the previous checkpoint or the new one, complete and verifiable. A kill mid-save
loses only the new one (a Ctrl-C waits the milliseconds until the save is done); two processes
saving to one path never make a reader fail; the next save removes the temporary files that
killed saves leave behind.

`extra` holds only values that weights_only loading reads back (see check_extra): anything
else is refused before the file is touched, so nothing unloadable is ever written.

Older checkpoints (a bare torch.save file with its sha256 in `run.pt.sha256` beside it, like
the shipped data/checkpoints/gpt1-char.pt) still load, verified against that file.

One module, though long: one idea, the checkpoint file. Saving and loading share its format (header,
sha256, atomic write), and the model helpers at the end only wrap load_checkpoint.
"""
from __future__ import annotations

import contextlib
import dataclasses
import datetime
import glob
import hashlib
import io
import os
import secrets
import signal
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path, PurePath
from typing import Any, BinaryIO, Iterator

import numpy as np
import torch

from .checks import require_bool, require_int
from .device import pick_device

FORMAT = "gptedu-checkpoint-v1"  # the saved dict's "format" entry (unchanged since v1)
MAGIC = b"gptedu-checkpoint v2\n"  # the file's first line
HEADER_SIZE = len(MAGIC) + len(b"sha256 \n") + 64 + len(b"bytes \n") + 20
STALE_SECONDS = 300  # a temp file nobody wrote to for this long is left over from a killed save
_ZIP = b"PK\x03\x04"  # how a bare torch.save file (an older checkpoint) starts
_PAYLOAD_KEYS = ("format", "config", "model", "step", "optimizer", "extra")


class CheckpointError(RuntimeError):
    """A checkpoint is missing, corrupted, or does not fit the model it is loaded into."""


@dataclass
class Checkpoint:
    config: Any  # GPTConfig
    model: dict[str, torch.Tensor]
    step: int = 0
    optimizer: dict | None = None
    extra: dict = field(default_factory=dict)
    path: Path | None = field(default=None, repr=False, compare=False)  # the file it was read from


# ---------------------------------------------------------------- saving
def save_checkpoint(path: str | Path, model: torch.nn.Module, *, step: int = 0,
                    optimizer: torch.optim.Optimizer | None = None, extra: dict | None = None) -> Path:
    """Write model.config + weights (+ optimizer state, step, extra info) to `path`, atomically.

    `extra` is checked first (check_extra): a value a checkpoint cannot hold raises a
    TypeError and leaves any checkpoint already at `path` as it was.
    """
    extra = check_extra(extra)
    step = require_int("step", step, minimum=0, hint=" (the number of optimizer steps done)")
    path = _as_path(path, "save_checkpoint(path, model)")
    if not dataclasses.is_dataclass(getattr(model, "config", None)):
        raise TypeError(f"model must be a gptedu GPT (a module with a .config); got {type(model).__name__}. "
                        f"Call save_checkpoint(path, model).")
    if path.is_dir():
        raise IsADirectoryError(f"path={str(path)!r} is a folder; give a file name inside it, "
                                f"e.g. {str(path / 'ckpt.pt')!r}.")
    state = {
        "format": FORMAT,
        "config": dataclasses.asdict(model.config),
        "model": {k: v.detach().cpu() for k, v in model.state_dict().items()},
        "step": step,
        "optimizer": optimizer.state_dict() if optimizer is not None else None,
        "extra": extra,
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    _remove_stale_temp_files(path)
    with _ctrl_c_after_saving():
        _write_atomically(path, state)
    _sidecar(path).unlink(missing_ok=True)  # an older checkpoint's hash file describes the file just replaced
    return path


def check_extra(extra: dict | None) -> dict:
    """`extra` as a checkpoint stores it: a new dict, with numpy scalars turned into Python values.

    torch.load(weights_only=True) reads back None, bool, int, float, str, tensors (and
    torch.device, dtype and Size), and dicts (str keys), lists and tuples of these. Anything
    else (a numpy array, a Path, a datetime, an object of your own) would give a checkpoint
    that saves fine and never loads, so it raises a TypeError that names where it sits,
    e.g. extra['history'][3], before any file is written.
    """
    if extra is None:
        return {}
    if not isinstance(extra, dict):
        raise TypeError(f"extra must be a dict with str keys, e.g. extra={{'val_loss': 1.5}}; "
                        f"got {type(extra).__name__}.")
    return _storable(extra, "extra")


_PLAIN = (type(None), bool, int, float, str, torch.device, torch.dtype, torch.Size)  # weights_only reads these


def _storable(value: Any, where: str) -> Any:
    if type(value) in _PLAIN or isinstance(value, torch.Tensor):
        return value
    if isinstance(value, np.generic) and value.dtype.kind in "biufU":
        return value.item()  # numpy.float64(0.5) -> 0.5
    if isinstance(value, dict):
        out = {}
        for key, item in value.items():
            if type(key) is not str:
                raise TypeError(f"{where} has the key {key!r} of type {_type_name(key)}; a checkpoint stores "
                                f"dicts with str keys only. Use str(key) as the key.")
            out[key] = _storable(item, f"{where}[{key!r}]")
        return out
    if type(value) in (list, tuple):
        items = [_storable(item, f"{where}[{i}]") for i, item in enumerate(value)]
        return items if type(value) is list else tuple(items)
    raise TypeError(f"{where} is of type {_type_name(value)} ({_short(value)}), which torch.load(weights_only=True) "
                    f"cannot read back, so the checkpoint could never be loaded. Convert it {_hint(value)}. "
                    f"A checkpoint's extra holds None, bool, int, float, str, torch.Tensor, and dicts "
                    f"(str keys), lists and tuples of these. Nothing was written.")


def _hint(value: Any) -> str:
    if isinstance(value, np.ndarray):
        return "with torch.from_numpy(value) or value.tolist()"
    if isinstance(value, PurePath):
        return "with str(value)"
    if isinstance(value, (datetime.date, datetime.time)):
        return "with value.isoformat()"
    if isinstance(value, (set, frozenset)):
        return "with sorted(value)"
    if isinstance(value, tuple) and hasattr(value, "_asdict"):
        return "with value._asdict() or tuple(value)"
    return "to a str, float, int or list, or to a torch.Tensor"


def _type_name(value: Any) -> str:
    kind = type(value)
    return kind.__qualname__ if kind.__module__ == "builtins" else f"{kind.__module__}.{kind.__qualname__}"


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _write_atomically(path: Path, state: dict) -> None:
    """Write header + torch.save(state) to a temp file, flush it to disk, rename it to `path`.

    The temp file is named .<name>.<pid>-<random>.tmp: each writer has its own, and the
    pid tells a later save whether the writer is still alive (_remove_stale_temp_files).
    """
    tmp = path.with_name(f".{path.name}.{os.getpid()}-{secrets.token_hex(4)}.tmp")
    try:
        with open(tmp, "xb+") as f:
            f.write(bytes(HEADER_SIZE))  # a placeholder: the header needs the payload's sha256
            torch.save(state, f)
            size = f.tell() - HEADER_SIZE
            f.seek(HEADER_SIZE)
            digest = _sha256(f, size)
            f.seek(0)
            f.write(_header(digest, size))
            f.flush()
            os.fsync(f.fileno())  # the bytes are on disk before the file takes the name
        os.replace(tmp, path)  # atomic: a reader opens the old file or the new one, never a mix
    except BaseException:  # KeyboardInterrupt too: leave no temp file behind
        tmp.unlink(missing_ok=True)
        raise
    _fsync_folder(path.parent)  # make the rename itself survive a power cut


@contextlib.contextmanager
def _ctrl_c_after_saving() -> Iterator[None]:
    """Hold a Ctrl-C (SIGINT) until the save is done, then stop as usual.

    Interrupted inside torch.save, torch reports a RuntimeError ("unexpected pos"), not a
    KeyboardInterrupt. Holding it the few milliseconds a save takes gives a plain
    KeyboardInterrupt and a complete new checkpoint. A second Ctrl-C stops the save at once
    (the old checkpoint stays). Only the main thread can handle signals; others save as is.
    """
    previous = signal.getsignal(signal.SIGINT)
    if threading.current_thread() is not threading.main_thread() or previous is None:
        yield
        return
    held: list = []

    def hold(signum, frame):
        if held:
            raise KeyboardInterrupt
        held.append((signum, frame))

    signal.signal(signal.SIGINT, hold)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)
    if held and callable(previous):
        previous(*held[0])  # Python's default handler raises KeyboardInterrupt here
    elif held and previous == signal.SIG_DFL:
        raise KeyboardInterrupt


def _header(digest: str, size: int) -> bytes:
    header = MAGIC + f"sha256 {digest}\nbytes {size:020d}\n".encode()
    assert len(header) == HEADER_SIZE
    return header


def _fsync_folder(folder: Path) -> None:
    if os.name == "nt":  # Windows cannot open a folder; its renames are durable enough
        return
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:  # the checkpoint is saved; only the rename's durability is not forced
        return
    try:
        os.fsync(fd)
    except OSError:  # some filesystems refuse to sync a folder; the file itself is synced
        pass
    finally:
        os.close(fd)


def _remove_stale_temp_files(path: Path) -> None:
    """Delete the temp files that killed saves to `path` left behind.

    One is stale when the process named in it is gone, or when nothing wrote to it for
    STALE_SECONDS (its pid was reused, or it came from another machine). A save still
    running in another process keeps its file.
    """
    for tmp in path.parent.glob(f".{glob.escape(path.name)}.*.tmp"):
        pid = tmp.name[len(path.name) + 2:-len(".tmp")].split("-")[0]
        try:
            if (pid.isdigit() and not _process_alive(int(pid))) or \
                    time.time() - tmp.stat().st_mtime > STALE_SECONDS:
                tmp.unlink()
        except FileNotFoundError:  # its save just finished, or another save removed it
            pass


def _process_alive(pid: int) -> bool:
    if os.name == "nt" or pid <= 0:  # on Windows os.kill would end the process: rely on the age
        return True
    try:
        os.kill(pid, 0)  # signal 0 only asks whether the process exists
    except ProcessLookupError:
        return False
    except PermissionError:  # it exists, under another user
        return True
    return True


# ---------------------------------------------------------------- loading
def load_checkpoint(path: str | Path, *, verify: bool = True) -> Checkpoint:
    """Read a checkpoint written by save_checkpoint, checking its size, sha256 and structure first.

    verify=False skips the sha256 (not the other checks), for a file you trust.
    """
    verify = require_bool("verify", verify)  # verify="" or 0 would skip the sha256 without saying so
    path = _existing_file(path)
    with open(path, "rb") as f:  # one open file: a save that replaces `path` meanwhile cannot mix two files
        payload = _payload(f, path, verify)
        try:
            state = torch.load(payload, map_location="cpu", weights_only=True)
        except Exception as err:  # a truncated or foreign file; say what it is, not where torch failed
            raise CheckpointError(f"{path} is not a readable checkpoint ({type(err).__name__}: "
                                  f"{str(err).splitlines()[0][:200] if str(err) else ''}). "
                                  f"Restore or retrain it.") from None
    return _checkpoint_from(state, path)


def _existing_file(path: str | Path) -> Path:
    path = _as_path(path, "load_checkpoint(path)")
    if path.is_dir():
        inside = sorted(p.name for p in path.glob("*.pt")) or "none"
        raise CheckpointError(f"{path} is a folder, not a checkpoint file. Pass the path of a file in it "
                              f"(.pt files there: {inside}).")
    if not path.exists():
        raise CheckpointError(f"No checkpoint at {path}. Check the path, or train one first "
                              f"(the notebook's RETRAIN flag or the script named in data/README.md).")
    return path


def _as_path(path: Any, call: str) -> Path:
    if not isinstance(path, (str, os.PathLike)):
        raise TypeError(f"path must be a file path (a str or pathlib.Path); got {type(path).__name__}. "
                        f"Call {call}.")
    return Path(path)


def _payload(f: BinaryIO, path: Path, verify: bool) -> BinaryIO:
    """The torch.save part of an open checkpoint file, after checking its size and sha256."""
    size = os.fstat(f.fileno()).st_size
    start = f.read(len(MAGIC))
    if start.startswith(_ZIP):  # an older checkpoint: the whole file, its sha256 in the file beside it
        if verify:
            _verify_against_sidecar(f, path, size)
        return _Window(f, 0, size)
    if start != MAGIC:
        what = ("it is empty (0 bytes)" if size == 0 else "it is truncated (it ends inside its header)"
                if MAGIC.startswith(start) else f"it starts with {start[:12]!r}")
        raise CheckpointError(f"{path} is not a readable checkpoint: {what}, not the header "
                              f"{MAGIC.decode().strip()!r} that save_checkpoint writes. Restore or retrain it.")
    digest, recorded = _read_header(f, path)
    actual = size - HEADER_SIZE
    if actual < recorded:
        raise CheckpointError(f"{path} is not a readable checkpoint: it is truncated ({max(actual, 0):,} of the "
                              f"{recorded:,} bytes its header records; an interrupted copy?). Restore or retrain it.")
    if actual > recorded:
        raise CheckpointError(f"{path} is corrupted or was changed after saving ({actual:,} bytes follow its "
                              f"header, which records {recorded:,}). Restore it or retrain it.")
    if verify and _sha256(f, recorded) != digest:
        raise CheckpointError(f"{path} is corrupted or was changed after saving (its sha256 differs from the "
                              f"one recorded in its header). Restore it (`git checkout -- {path}` for a "
                              f"shipped one) or retrain it.")
    return _Window(f, HEADER_SIZE, recorded)


def _read_header(f: BinaryIO, path: Path) -> tuple[str, int]:
    """(sha256, payload size) from the header lines after MAGIC."""
    data = f.read(HEADER_SIZE - len(MAGIC))
    if len(data) < HEADER_SIZE - len(MAGIC):
        raise CheckpointError(f"{path} is not a readable checkpoint: it is truncated (it ends inside its "
                              f"header; an interrupted copy?). Restore or retrain it.")
    lines = data.split(b"\n")
    try:
        name, digest = lines[0].decode().split(" ")
        label, size = lines[1].decode().split(" ")
        if name != "sha256" or len(digest) != 64 or label != "bytes" or lines[2:] != [b""]:
            raise ValueError
        int(digest, 16)
        return digest, int(size)
    except (ValueError, UnicodeDecodeError, IndexError):
        raise CheckpointError(f"{path} is corrupted or was changed after saving: its header (the lines "
                              f"after {MAGIC.decode().strip()!r}) is damaged, so it cannot be verified. "
                              f"Restore it or retrain it.") from None


def _verify_against_sidecar(f: BinaryIO, path: Path, size: int) -> None:
    sidecar = _sidecar(path)
    if not sidecar.exists():
        raise CheckpointError(f"{path} records no sha256 (an older checkpoint format, or a plain torch.save "
                              f"file) and {sidecar.name} is missing next to it, so it cannot be verified. "
                              f"Restore both files, or pass verify=False if you trust this file.")
    recorded = sidecar.read_text(errors="replace").split()
    if not recorded or len(recorded[0]) != 64 or any(c not in "0123456789abcdef" for c in recorded[0].lower()):
        raise CheckpointError(f"{sidecar} is damaged ({'empty' if not recorded else 'no sha256 in it'}), so {path} "
                              f"cannot be verified. Restore both files (`git checkout -- {path} {sidecar}` for "
                              f"a shipped one), or pass verify=False if you trust this file.")
    f.seek(0)
    if _sha256(f, size) != recorded[0].lower():
        raise CheckpointError(f"{path} is corrupted or was changed after saving (its sha256 differs from "
                              f"{sidecar.name}). Restore it (`git checkout -- {path}` for a shipped one) "
                              f"or retrain it.")


def _checkpoint_from(state: Any, path: Path) -> Checkpoint:
    from .config import GPTConfig

    if not isinstance(state, dict) or state.get("format") != FORMAT:
        raise CheckpointError(f"{path} is not a gptedu checkpoint (expected format {FORMAT!r}). "
                              f"For Hugging Face GPT-2 weights use GPT.from_pretrained(path).")
    missing = [key for key in _PAYLOAD_KEYS if key not in state]
    if missing:
        raise CheckpointError(f"{path} lacks {missing}; it was not written by save_checkpoint. Retrain it.")
    known = {f.name for f in dataclasses.fields(GPTConfig)}
    unknown = set(state["config"]) - known
    if unknown:
        raise CheckpointError(f"{path} was saved with config fields this gptedu does not know: "
                              f"{sorted(unknown)}. It was made by a different version of the course.")
    try:
        config = GPTConfig(**state["config"])
    except (TypeError, ValueError) as err:
        raise CheckpointError(f"{path} records a config this gptedu cannot build ({err}). "
                              f"It was made by a different version of the course.") from None
    return Checkpoint(config=config, model=state["model"], step=state["step"],
                      optimizer=state["optimizer"], extra=state["extra"], path=path)


def _sidecar(path: Path) -> Path:
    return path.with_name(path.name + ".sha256")


def _sha256(f: BinaryIO, size: int) -> str:
    """sha256 of the next `size` bytes of an open file (data.sha256_file hashes a whole file by name)."""
    digest = hashlib.sha256()
    while size > 0:
        chunk = f.read(min(size, 1 << 20))
        if not chunk:
            break
        digest.update(chunk)
        size -= len(chunk)
    return digest.hexdigest()


class _Window(io.RawIOBase):
    """A read-only view of bytes [start, start + size) of an open file.

    torch.load reads the payload through it: the bytes unpickled are the ones just hashed,
    from the same open file, without copying a large checkpoint into memory.
    """

    def __init__(self, f: BinaryIO, start: int, size: int):
        super().__init__()
        self.f, self.start, self.size, self.pos = f, start, size, 0

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self.pos

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self.pos, io.SEEK_END: self.size}[whence]
        self.pos = max(0, base + offset)
        return self.pos

    def readinto(self, buffer) -> int:
        n = max(0, min(len(buffer), self.size - self.pos))
        self.f.seek(self.start + self.pos)
        got = self.f.readinto(memoryview(buffer)[:n])
        self.pos += got
        return got


# ---------------------------------------------------------------- models from checkpoints
def load_model(path: str | Path, device: str | torch.device = "cpu"):
    """A GPT built from a checkpoint's config, with its weights, in eval mode."""
    device = pick_device(device)  # an unknown device name fails before the file is read
    return model_from(load_checkpoint(path)).to(device).eval()


SHIPPED_DIR = Path(__file__).resolve().parents[1] / "data" / "checkpoints"


def load_shipped(name: str = "gpt1-char", device: str | torch.device = "cpu"):
    """A model that ships in data/checkpoints/, with its tokenizer: `model, tokenizer = load_shipped()`."""
    from .tokenizers import CharTokenizer

    device = pick_device(device)
    shipped = sorted(p.stem for p in SHIPPED_DIR.glob("*.pt")) if SHIPPED_DIR.exists() else []
    if not isinstance(name, str) or name not in shipped:
        raise CheckpointError(f"No shipped checkpoint named {name!r}; shipped: {shipped or 'none'}. "
                              f"data/README.md says which script makes each one.")
    path = SHIPPED_DIR / f"{name}.pt"
    ckpt = load_checkpoint(path)
    model = model_from(ckpt).to(device).eval()
    info = ckpt.extra.get("tokenizer", {})
    if info.get("kind") != "char":
        raise CheckpointError(f"{path} does not record a character tokenizer; load it with load_model().")
    return model, CharTokenizer(info["chars"])


def model_from(ckpt: Checkpoint):
    """A GPT with a loaded checkpoint's config and weights."""
    from .model import GPT

    model = GPT(ckpt.config)
    check_weights(model, ckpt.model, ckpt.path or "the checkpoint")
    model.load_state_dict(ckpt.model)
    return model


def check_fits(model: torch.nn.Module, ckpt: Checkpoint, path: str | Path) -> None:
    """Refuse, before anything is loaded, a checkpoint of another model shape (CheckpointError)."""
    if ckpt.config != model.config:
        diff = {name: (getattr(ckpt.config, name), getattr(model.config, name))
                for name in dataclasses.asdict(ckpt.config)
                if getattr(ckpt.config, name) != getattr(model.config, name)}
        raise CheckpointError(f"{path} was saved from a different model: (checkpoint, this model) = {diff}. "
                              f"Build the model with load_model({str(path)!r}) instead. The model was not changed.")
    check_weights(model, ckpt.model, path)


def check_weights(model: torch.nn.Module, weights: Any, where: str | Path) -> None:
    """Refuse weights whose names or shapes do not fit `model` (a file whose weights and recorded config
    disagree), with a CheckpointError, before any is copied: load_state_dict would copy the tensors that
    fit and only then fail, leaving the model half overwritten."""
    expected = model.state_dict()
    if not isinstance(weights, dict) or not all(isinstance(v, torch.Tensor) for v in weights.values()):
        raise CheckpointError(f"{where} holds no weights (a dict of tensors). Restore or retrain it.")
    missing = [k for k in expected if k not in weights]
    unexpected = [k for k in weights if k not in expected]
    shapes = [f"{k} {tuple(weights[k].shape)} instead of {tuple(v.shape)}"
              for k, v in expected.items() if k in weights and weights[k].shape != v.shape]
    if missing or unexpected or shapes:
        found = "; ".join(part for part in (
            f"missing {_listing(missing)}" if missing else "", f"not in the model {_listing(unexpected)}"
            if unexpected else "", f"wrong shape: {_listing(shapes)}" if shapes else "") if part)
        raise CheckpointError(f"The weights in {where} do not fit the model its config describes ({found}): it was "
                              f"edited, or made by a different version of the course. Restore or retrain it. "
                              f"No weights were loaded.")


def _listing(items: list[str], n: int = 3) -> str:
    return ", ".join(items[:n]) + (f" and {len(items) - n} more" if len(items) > n else "")


def load_weights_into(model: torch.nn.Module, path: str | Path) -> Checkpoint:
    """Load a checkpoint into an existing model, refusing (and leaving the model as it was) if its config
    or its weights do not fit."""
    ckpt = load_checkpoint(path)
    check_fits(model, ckpt, path)
    model.load_state_dict(ckpt.model)
    return ckpt
