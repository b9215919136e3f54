"""Messages between the worker and the sandbox: JSON, one per line, on three kinds of channel.

- **Commands** (worker → zygote, a Unix socket) and their answers: platform code on both ends.
- **Status** (a run's supervisor → worker): platform code that the run's process never reaches
  (another PID namespace; the descriptor is closed before participant code exists). It alone
  says that a run's process exited, how, and whether returned weights were collected.
- **Report** (the run's process → worker): written by platform code, but in the process that
  runs participant code, so anything on it may be forged. It carries ``ready`` (the module is
  imported) and, for a failure, an exception's type and frames, which the worker checks against
  the stored upload (:mod:`worker.sandbox.failure_report`) before showing any of it.

``decode`` never raises: a line that is not one valid message (of any length, nesting or
encoding) becomes ``None``, which the reader turns into the participant's fault.
"""

from __future__ import annotations

import json
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

GO = "go"  # worker → run: the run's data is in place, the clock is running

INPUT_DATA = "data.safetensors"  # retain/forget/val tensors
INPUT_WEIGHTS = "original.safetensors"
INPUT_SPEC = "spec.json"  # model spec, seed, batch size, device, threads
OUTPUT_WEIGHTS = "returned.safetensors"
INPUTS = (INPUT_DATA, INPUT_WEIGHTS, INPUT_SPEC)

MAX_LINE = 64 << 10  # longer lines are not messages
MAX_REPORT_BYTES = 256 << 10  # all a run may write on its report channel

Name = Annotated[str, Field(max_length=512)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)


class Frame(_Strict):
    file: Name
    line: Annotated[int, Field(ge=0, le=10**7)]
    function: Name


class Ready(_Strict):
    event: Literal["ready"]


Problem = Literal["exception", "no_unlearning", "bad_return", "bad_state_dict", "unsaveable"]


class Failed(_Strict):
    event: Literal["failed"]
    phase: Literal["import", "run", "output"]
    problem: Problem
    type: Name | None = None  # "module.QualName", or the bare name of a builtin
    frames: Annotated[list[Frame], Field(max_length=50)] = []
    module: Annotated[str, Field(max_length=128)] | None = None  # ModuleNotFoundError's name


class Exited(_Strict):
    """Status: the run's process ended (code >= 0) or was killed by signal -code."""

    event: Literal["exited"]
    code: int


class Collected(_Strict):
    """Status: the returned weights were copied out of the run (or there were none)."""

    event: Literal["collected"]
    returned: bool
    problem: Literal["missing", "not_a_file", "too_large"] | None = None


class Usage(_Strict):
    """Status, without a cgroup only: the run's shared memory (tmpfs, SysV, memfd) in bytes."""

    event: Literal["usage"]
    bytes: Annotated[int, Field(ge=0)]


class SetupFailed(_Strict):
    """Status: the platform could not isolate the run (no participant code ran)."""

    event: Literal["setup_failed"]
    error: Annotated[str, Field(max_length=2000)]


class Answer(_Strict):
    """Zygote → worker."""

    event: Literal["warm", "forked", "clean", "busy"]


REPORT = (Ready, Failed)  # what the run's process may write
STATUS = (Exited, Collected, SetupFailed, Usage)  # what the run's init and supervisor write


def encode(event: str, **fields: Any) -> bytes:
    return (json.dumps({"event": event, **fields}) + "\n").encode()


def decode(line: bytes, kinds: tuple[type[_Strict], ...]) -> _Strict | None:
    """One message of one of ``kinds``, or None for anything else. Never raises."""
    if len(line) > MAX_LINE:
        return None
    try:
        raw = json.loads(line.decode("utf-8"))
    except (ValueError, RecursionError, MemoryError, UnicodeError):
        return None
    if not isinstance(raw, dict):
        return None
    for kind in kinds:
        try:
            return kind.model_validate(raw)
        except (ValidationError, RecursionError, ValueError, TypeError):
            continue
    return None
