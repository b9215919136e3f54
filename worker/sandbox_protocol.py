"""Messages between the worker and the process that runs participant code: JSON, one per line."""

from __future__ import annotations

import json
from typing import Any

READY = "ready"  # participant module imported, `unlearning` found; waiting for data
GO = "go"  # worker → child: the run's data is in place, the clock is running
DONE = "done"  # returned weights written
ERROR = "error"  # participant code failed; carries kind and a participant-visible message

INPUT_DATA = "data.safetensors"  # retain/forget/val tensors
INPUT_WEIGHTS = "original.safetensors"
INPUT_SPEC = "spec.json"  # model spec, seed, batch size, device, threads
OUTPUT_WEIGHTS = "returned.safetensors"


def encode(event: str, **fields: Any) -> bytes:
    return (json.dumps({"event": event, **fields}) + "\n").encode()


def decode(line: bytes) -> dict[str, Any]:
    try:
        msg = json.loads(line.decode("utf-8", "replace"))
    except json.JSONDecodeError:
        return {"event": "garbage"}
    return msg if isinstance(msg, dict) else {"event": "garbage"}
