"""Run folders: checkpoints that survive interruption, load without unpickling code and prove they are intact.

A run folder holds ``checkpoint.pt`` (model, EMA, optimizer, scheduler and RNG state: tensors and plain
values only, so ``torch.load(weights_only=True)`` reads it) and ``model.safetensors`` / ``ema.safetensors``
(the weights alone). Every file is written to a temporary name beside its target and renamed over it, so a
run killed mid-write leaves the previous file whole; a write that fails (a full disk) says so and leaves the
previous file in place.

Each checkpoint and weights file carries the SHA-256 of its contents (in the checkpoint's state, and in the
safetensors metadata), checked on every load: a flipped byte is an error, not a NaN loss. One process at a
time writes a run folder: :class:`RunLock` holds an exclusive ``flock`` on
``OUT/.vtlab.lock`` for the whole run.
"""

from __future__ import annotations

import errno
import hashlib
import io
import json
import os
import pickle
import shutil
import socket
import struct
import tempfile
import time
import zipfile
from collections.abc import Callable, Iterable
from pathlib import Path

import torch
from safetensors import SafetensorError
from safetensors.torch import load as load_safetensors
from safetensors.torch import save_file
from torch import nn

try:
    import fcntl
except ImportError:  # Windows: no flock; run folders are not locked there
    fcntl = None

CHECKSUM_KEY = "sha256"  # in the checkpoint's state and in the safetensors metadata
LOCK_NAME = ".vtlab.lock"  # a name of vtlab's own: a user's ".lock" is never touched
FULL_DISK_BYTES = 1 << 20  # a write that fails with less than this left free failed for lack of space


class CheckpointError(ValueError):
    """A file of a run folder that cannot be trusted: damaged, truncated, altered or incomplete."""


class RunLockedError(ValueError):
    """Another process is writing the run folder."""


class WriteError(OSError):
    """A run-folder file could not be written (a full disk, an I/O error); the previous version is intact."""


def _free_bytes(folder: Path) -> int | None:
    try:
        return shutil.disk_usage(folder).free
    except OSError:
        return None


def _write_failure(path: Path, error: BaseException, free: int | None) -> str:
    full = getattr(error, "errno", None) in (errno.ENOSPC, errno.EDQUOT) or (free is not None and
                                                                           free < FULL_DISK_BYTES)
    cause = (f"the disk is full ({free if free is not None else 'unknown'} bytes free in {path.parent})" if full
             else f"{type(error).__name__}: {error}")
    return (f"could not write {path}: {cause}; the previous {path.name} (if any) is intact"
            + ("; free some space and continue with --resume" if full else ""))


def atomic_write(path: Path, write: Callable[[str], object]) -> None:
    """Call ``write(temporary_path)``, then rename the temporary file onto ``path``.

    A failing write (OSError, or the RuntimeError torch.save raises for one) becomes a :class:`WriteError` that
    says whether the disk is full; the temporary file is removed and ``path`` keeps its previous content.
    """
    path = Path(path)
    tmp = None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
        os.close(fd)
        write(tmp)
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)  # what a plain open() would have given, not mkstemp's 0600
        os.replace(tmp, path)
    except BaseException as error:
        free = _free_bytes(path.parent)  # measured before the temporary file gives its space back
        if tmp is not None:
            Path(tmp).unlink(missing_ok=True)
        if isinstance(error, (OSError, RuntimeError)) and not isinstance(error, WriteError):
            raise WriteError(_write_failure(path, error, free)) from error
        raise


def check_writable(folder: Path) -> None:
    """Create ``folder`` if needed and prove that files can be created in it (a probe file, then removed).

    Raises ValueError when a parent is a file, PermissionError (or another OSError) naming the folder otherwise:
    before a run builds any data or model, not after its first epoch.
    """
    folder = Path(folder)
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except (FileExistsError, NotADirectoryError) as error:
        raise ValueError(f"expected the run folder {folder} to be a folder (or creatable), but it or one of its "
                         f"parents is a file ({error.strerror})") from error
    except PermissionError as error:
        raise PermissionError(f"cannot create the run folder {folder}: permission denied") from error
    try:
        fd, probe = tempfile.mkstemp(dir=folder, prefix=".write-probe.", suffix=".tmp")
        os.close(fd)
        os.unlink(probe)
    except PermissionError as error:
        raise PermissionError(f"the run folder {folder} is not writable (permission denied); "
                              f"choose another --out or fix its permissions") from error
    except OSError as error:
        raise WriteError(_write_failure(folder / ".write-probe", error, _free_bytes(folder))) from error


class RunLock:
    """An exclusive lock on a run folder (``flock`` on ``FOLDER/.vtlab.lock``), held from ``__enter__`` to ``__exit__``.

    The lock file names its holder (pid, host, start time); a second writer gets :class:`RunLockedError` naming
    it, at once (no waiting). The file is removed on release; a process that opened it just before is told by
    the inode check and retries on the new file, so two writers never both hold it.
    """

    def __init__(self, folder: Path):
        self.path = Path(folder) / LOCK_NAME
        self.fd: int | None = None

    def __enter__(self) -> RunLock:
        if fcntl is None:
            return self
        while True:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError as error:
                holder = os.pread(fd, 4096, 0).decode(errors="replace").strip() or "holder not recorded yet"
                os.close(fd)
                raise RunLockedError(f"{self.path.parent} is being written by another vtlab run ({holder}); "
                                     f"wait for it to end, or choose another --out") from error
            except BaseException:
                os.close(fd)
                raise
            try:
                current = os.stat(self.path)
                same = (current.st_ino, current.st_dev) == (os.fstat(fd).st_ino, os.fstat(fd).st_dev)
            except FileNotFoundError:
                same = False
            if same:
                break
            os.close(fd)  # the previous holder removed this file while we waited for it: lock the new one
        started = time.strftime("%Y-%m-%d %H:%M:%S %z")
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"pid {os.getpid()} on host {socket.gethostname()}, started {started}\n".encode(), 0)
        self.fd = fd
        return self

    def __exit__(self, *exc) -> None:
        if self.fd is not None:
            self.path.unlink(missing_ok=True)  # still holding the lock: nobody else holds this file
            os.close(self.fd)
            self.fd = None


def unwrap(model: nn.Module) -> nn.Module:
    """The plain model inside DistributedDataParallel and/or torch.compile wrappers."""
    while True:
        if hasattr(model, "module"):
            model = model.module
        elif hasattr(model, "_orig_mod"):
            model = model._orig_mod
        else:
            return model


def _feed(hasher, value) -> None:
    """Hash a nest of dicts, lists, tensors and plain values, in an order that does not depend on dict order."""
    if isinstance(value, torch.Tensor):
        tensor = value.detach().cpu().contiguous()
        hasher.update(f"tensor {tensor.dtype} {tuple(tensor.shape)}:".encode())
        hasher.update(tensor.reshape(-1).view(torch.uint8).numpy())
    elif isinstance(value, dict):
        hasher.update(f"dict {len(value)}:".encode())
        for key in sorted(value, key=repr):
            _feed(hasher, key)
            _feed(hasher, value[key])
    elif isinstance(value, (list, tuple)):
        hasher.update(f"list {len(value)}:".encode())
        for item in value:
            _feed(hasher, item)
    else:
        hasher.update(f"{type(value).__name__} {value!r};".encode())


def state_digest(state) -> str:
    """SHA-256 (hex) of a checkpoint state, or of a name → tensor mapping: tensors' dtype, shape and bytes and
    plain values, wherever they sit in the nest."""
    hasher = hashlib.sha256()
    _feed(hasher, state)
    return hasher.hexdigest()


def weights_state(model: nn.Module) -> dict[str, torch.Tensor]:
    """The model's weights as :func:`save_weights` writes them (on the CPU, contiguous)."""
    return {k: v.detach().cpu().contiguous() for k, v in unwrap(model).state_dict().items()}


def save_weights(model: nn.Module, path: Path, epoch: int | None = None) -> None:
    """The model's weights as safetensors, with their SHA-256 (and the epoch they end) in the file's metadata."""
    state = weights_state(model)
    metadata = {CHECKSUM_KEY: state_digest(state), **({} if epoch is None else {"epoch": str(epoch)})}
    atomic_write(path, lambda tmp: save_file(state, tmp, metadata=metadata))


def _header_metadata(head: bytes) -> dict:
    """The ``__metadata__`` of a safetensors file from its first bytes (the 8-byte header size, then the JSON
    header); raises struct.error, ValueError, AttributeError or RecursionError for a damaged header."""
    (size,) = struct.unpack("<Q", head[:8])
    if len(head) < 8 + size:
        raise ValueError(f"the header claims {size} bytes, the file holds {len(head) - 8}")
    metadata = json.loads(head[8:8 + size]).get("__metadata__") or {}
    if not isinstance(metadata, dict):
        raise ValueError(f"its metadata is a {type(metadata).__name__}, not an object")
    return metadata


def recorded_metadata(path: Path) -> dict[str, str]:
    """The metadata of a ``.safetensors`` file (vtlab's: its SHA-256 and epoch), read from its header alone;
    empty if the file is missing, unreadable or records none."""
    try:
        with open(path, "rb") as f:
            (size,) = struct.unpack("<Q", f.read(8))
            f.seek(0)
            return _header_metadata(f.read(8 + size)) if size <= 100_000_000 else {}
    except (OSError, struct.error, ValueError, AttributeError, RecursionError):
        return {}


def _read_bytes(path: Path, what: str) -> bytes:
    """A file's bytes; a missing, unreadable or empty file raises an error that says which."""
    if not path.exists():
        raise FileNotFoundError(f"no {what} {path}")
    try:
        data = path.read_bytes()
    except PermissionError as error:
        raise PermissionError(f"cannot read the {what} {path}: permission denied") from error
    except IsADirectoryError as error:
        raise ValueError(f"expected the {what} {path} to be a file, got a folder") from error
    if not data:
        raise CheckpointError(f"the {what} {path} is empty (0 bytes): its write never finished")
    return data


def read_weights(path: Path) -> dict[str, torch.Tensor]:
    """Read a ``.safetensors`` file and check the SHA-256 recorded in its metadata (files without one, written
    by other tools, are read unchecked)."""
    path = Path(path)
    data = _read_bytes(path, "weights file")
    try:
        metadata = _header_metadata(data)
        state = load_safetensors(data)
    except (SafetensorError, struct.error, ValueError, AttributeError, RecursionError) as error:
        raise CheckpointError(f"{path} is not a readable safetensors file (truncated or damaged: {error})") from error
    expected = metadata.get(CHECKSUM_KEY)
    if expected is not None and state_digest(state) != expected:
        raise CheckpointError(f"{path} is damaged: its tensors do not match the SHA-256 recorded when it was "
                              f"written (a flipped or altered byte)")
    return state


def load_weights(model: nn.Module, path: Path) -> None:
    """Load a ``.safetensors`` file into ``model``, checked (see :func:`read_weights`); a file from another
    architecture raises ValueError."""
    path = Path(path)
    state = read_weights(path)
    own = unwrap(model).state_dict()
    if set(state) != set(own) or any(state[k].shape != own[k].shape for k in own):
        raise ValueError(f"{path} holds weights of another model: {len(set(state) ^ set(own))} names and "
                         f"{sum(state[k].shape != own[k].shape for k in set(state) & set(own))} shapes differ")
    unwrap(model).load_state_dict(state)


def save_checkpoint(path: Path, state: dict) -> None:
    """Write a checkpoint state with its SHA-256 (under ``"sha256"``), atomically."""
    atomic_write(path, lambda tmp: torch.save({**state, CHECKSUM_KEY: state_digest(state)}, tmp))


def checkpoint_epoch(path: Path) -> int | None:
    """The epoch a checkpoint ends (memory-mapped, unchecked: a quick look, not a load); None if it is missing or
    unreadable."""
    try:
        state = torch.load(path, map_location="cpu", weights_only=True, mmap=True)
        return int(state["epoch"])
    except Exception:  # any unreadable file: the full load (load_checkpoint) says what is wrong with it
        return None


def load_checkpoint(path: Path) -> dict:
    """Read a checkpoint (tensors and plain values only: ``weights_only=True``) and check its SHA-256."""
    path = Path(path)
    data = _read_bytes(path, "checkpoint")  # missing, unreadable or empty: say which
    try:
        state = torch.load(io.BytesIO(data), map_location="cpu", weights_only=True)
    except (RuntimeError, pickle.UnpicklingError, EOFError, zipfile.BadZipFile, ValueError, KeyError,
            AttributeError, TypeError, IndexError, UnicodeDecodeError) as error:
        message = str(error).splitlines()[0] if str(error) else type(error).__name__
        raise CheckpointError(f"{path} is not a readable checkpoint (truncated or damaged: {message})") from error
    if not isinstance(state, dict):
        raise CheckpointError(f"{path} is not a vtlab checkpoint: it holds a {type(state).__name__}, not a dict")
    expected = state.pop(CHECKSUM_KEY, None)
    if expected is not None and state_digest(state) != expected:
        raise CheckpointError(f"{path} is damaged: its content does not match the SHA-256 recorded when it was "
                              f"written (a flipped or altered byte)")
    return state


def read_run_json(folder: Path, keys: Iterable[str] = ()) -> dict:
    """A run folder's ``run.json`` as a dict; ``keys`` must be present (``"config.NAME"`` looks inside
    ``config``). A missing, unreadable, truncated or incomplete file raises an error that says which."""
    path = Path(folder) / "run.json"
    if not path.is_file():
        raise FileNotFoundError(f"no run.json in {folder}: expected a folder written by `vtlab train`")
    try:
        info = json.loads(path.read_text())
    except PermissionError as error:
        raise PermissionError(f"cannot read {path}: permission denied") from error
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise CheckpointError(f"{path} is not valid JSON (truncated or damaged: {error})") from error
    except RecursionError as error:
        raise CheckpointError(f"{path} is nested too deeply to be a run.json that `vtlab train` wrote") from error
    if not isinstance(info, dict):
        raise CheckpointError(f"{path} holds a JSON {type(info).__name__}, expected an object written by "
                              f"`vtlab train`")
    missing = []
    for key in keys:
        outer, _, inner = key.partition(".")
        holder = info.get("config") if inner else info
        if not isinstance(holder, dict) or (inner or outer) not in holder:
            missing.append(key)
    if missing:
        raise CheckpointError(f"{path} lacks {', '.join(map(repr, missing))}: expected the run.json that "
                              f"`vtlab train` writes")
    return info
