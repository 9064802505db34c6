"""The resume sidecar: how much of the output is done, so an interrupted run can carry on.

Protocol (per chunk, in this order):

1. the chunk's output lines are appended to the output (JSON Lines) and flushed (and ``fsync``-ed
   when ``durable``), in input order;
2. with ``--log-predictions``, its records go to the prediction log (idempotent by prediction id,
   and a run derives its ids from the run id and the input index, so a repeat is a no-op);
3. the sidecar ``<out>.rescore-state.json`` is replaced atomically (write a temporary file, flush,
   rename) with the new row count and the output's byte length.

Whatever kills the process (SIGINT, SIGKILL, a power cut with ``durable``), the sidecar names a
prefix of the output that is complete. ``--resume`` cuts the output back to that byte length (a chunk
written after the last sidecar update is dropped), skips that many input rows and appends: every row
ends up in the output exactly once. The sidecar also records what the run was (input, model versions,
as-of, ...) and a resume with other parameters is refused rather than mixing two runs in one file.
The sidecar is removed when the run completes.
"""

from __future__ import annotations

import datetime as dt
import os
from pathlib import Path
from typing import BinaryIO, Literal

import msgspec

STATE_SUFFIX = ".rescore-state.json"
SPOOL_SUFFIX = ".partial.jsonl"
FORMAT_VERSION = 1

OutputFormat = Literal["jsonl", "parquet"]


class ResumeError(Exception):
    """Nothing to resume, or the sidecar describes another run than the one asked for."""


class RunIdentity(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """What a run is: a resume must match it exactly."""

    input: str
    kind: Literal["result", "compare"]
    model_name: str
    model_versions: tuple[str, ...]
    as_of: dt.date | None
    explain: int
    output_format: OutputFormat
    log_predictions: bool


class RunState(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    format_version: int = FORMAT_VERSION
    identity: RunIdentity
    batch_run_id: str
    run_started_at: dt.datetime
    rows_done: int = 0
    bytes_done: int = 0
    failures: int = 0
    last_policy_number: str | None = None
    """Policy number of the last row done: a resume checks the input still has it there."""


def state_path(out: Path) -> Path:
    return out.with_name(out.name + STATE_SUFFIX)


def spool_path(out: Path, output_format: OutputFormat) -> Path:
    """Where rows are appended: the output itself for JSON Lines, a sidecar for parquet."""
    return out if output_format == "jsonl" else out.with_name(out.name + SPOOL_SUFFIX)


def read_state(out: Path) -> RunState:
    path = state_path(out)
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise ResumeError(
            f"nothing to resume: {path.name} does not exist (the run finished or never started)"
        ) from None
    except OSError as exc:
        raise ResumeError(f"cannot read {path}: {exc.strerror}") from exc
    try:
        return msgspec.json.decode(data, type=RunState)
    except (msgspec.DecodeError, msgspec.ValidationError) as exc:
        raise ResumeError(f"{path} is not a rescore state file: {exc}") from exc


def write_state(out: Path, state: RunState, *, durable: bool) -> None:
    path = state_path(out)
    temporary = path.with_name(path.name + ".tmp")
    with temporary.open("wb") as handle:
        handle.write(msgspec.json.encode(state))
        handle.flush()
        if durable:
            os.fsync(handle.fileno())
    os.replace(temporary, path)
    if durable:
        _fsync_directory(path.parent)


def remove_state(out: Path) -> None:
    state_path(out).unlink(missing_ok=True)


def check_identity(state: RunState, wanted: RunIdentity) -> None:
    if state.format_version != FORMAT_VERSION:
        raise ResumeError(f"the state file has format {state.format_version}, not {FORMAT_VERSION}")
    if state.identity != wanted:
        differ = [
            field
            for field in RunIdentity.__struct_fields__
            if getattr(state.identity, field) != getattr(wanted, field)
        ]
        raise ResumeError(
            "the interrupted run differs from this one in "
            + ", ".join(differ)
            + "; run with the same arguments, or start afresh without --resume"
        )


class OutputAppender:
    """Appends chunks to the output, flushed (and fsync-ed when durable) after each one."""

    def __init__(self, path: Path, *, resume_at: int | None, durable: bool) -> None:
        self.path = path
        self.durable = durable
        self._handle: BinaryIO
        if resume_at is None:
            self._handle = path.open("wb")
        else:
            try:
                self._handle = path.open("r+b")
            except FileNotFoundError:
                raise ResumeError(f"the output {path} of the interrupted run is gone") from None
            size = self._handle.seek(0, os.SEEK_END)
            if size < resume_at:
                self._handle.close()
                raise ResumeError(
                    f"{path} holds {size} bytes, fewer than the {resume_at} the state file records"
                )
            self._handle.truncate(resume_at)
            self._handle.seek(resume_at)
        self.offset = self._handle.tell()

    def append(self, *parts: bytes) -> int:
        """Write ``parts`` one after another, flushed (fsync-ed when durable) once; the offset
        after them."""
        self._handle.writelines(parts)
        self._handle.flush()
        if self.durable:
            os.fsync(self._handle.fileno())
        self.offset += sum(len(part) for part in parts)
        return self.offset

    def close(self) -> None:
        self._handle.close()


def _fsync_directory(directory: Path) -> None:
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
