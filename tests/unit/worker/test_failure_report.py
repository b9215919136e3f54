"""The worker's side of the run's report channel: decoding never raises, and what a failure
report says is shown only where the worker can check it against the stored upload."""

from __future__ import annotations

import json
import textwrap

from hypothesis import given, settings
from hypothesis import strategies as st

from worker.sandbox import protocol as proto
from worker.sandbox.failure_report import Upload, render, verified_frames, verified_type

REPORT = proto.REPORT
SOURCE = textwrap.dedent(
    """\
    import torch


    class MyError(Exception):
        pass


    def helper(x):
        raise MyError("secret 3 1 4")


    def unlearning(net, retain_loader, forget_loader, val_loader):
        helper(net)
        return net
    """
)


def _upload(tmp_path) -> Upload:
    path = tmp_path / "submission.py"
    path.write_text(SOURCE)
    return Upload(path, "/sandbox/submission.py")


def test_decode_never_raises_on_hostile_lines():
    hostile = [
        b"[" * 200_000 + b"]" * 200_000,
        b'{"a":' * 50_000 + b"1" + b"}" * 50_000,
        b"\xff\xfe not utf-8",
        b"x" * (proto.MAX_LINE + 1),
        b"null",
        b"[]",
        b'{"event": "failed", "phase": "run", "problem": "exception", "frames": "nope"}',
        b'{"event": "ready", "extra": 1}',
        b'{"event": "exited", "code": 0}',  # a status message is not a report
        json.dumps({"event": "failed", "phase": "run", "problem": "exception",
                    "frames": [{"file": "f", "line": 1, "function": "g"}] * 51}).encode(),
    ]  # fmt: skip
    for line in hostile:
        assert proto.decode(line, REPORT) is None, line[:80]
    assert isinstance(proto.decode(b'{"event": "ready"}', REPORT), proto.Ready)


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=2000))
def test_decode_never_raises_on_any_bytes(data):
    msg = proto.decode(data, REPORT)
    assert msg is None or isinstance(msg, REPORT)


def test_types_are_shown_only_when_verified(tmp_path):
    up = _upload(tmp_path)
    assert verified_type("ValueError", up) == "ValueError"
    assert verified_type("submission.MyError", up) == "MyError"
    assert verified_type("torch.OutOfMemoryError", up) == "torch.OutOfMemoryError"
    for forged in ("HIDDEN_3_1_4", "submission.HIDDEN_3_1_4", "torch.HIDDEN_3_1_4",
                   "antigravity.Thing", "os.system", "builtins.print", "print", None, ""):  # fmt: skip
        assert verified_type(forged, up) is None, forged


def test_frames_must_exist_in_the_upload(tmp_path):
    up = _upload(tmp_path)
    frame = proto.Frame
    good = [frame(file="/sandbox/submission.py", line=9, function="helper"),
            frame(file="/sandbox/submission.py", line=13, function="unlearning")]  # fmt: skip
    bad = [
        frame(file="/sandbox/submission.py", line=9, function="HIDDEN"),  # no such function
        frame(file="/sandbox/submission.py", line=13, function="helper"),  # not there
        frame(file="/sandbox/submission.py", line=999, function="<module>"),  # no such line
        frame(file="/etc/passwd", line=1, function="<module>"),  # not the upload
    ]
    assert verified_frames(good + bad, up) == good


def test_the_message_shows_type_frames_and_source_but_no_text(tmp_path):
    up = _upload(tmp_path)
    report = proto.Failed(
        event="failed",
        phase="run",
        problem="exception",
        type="submission.MyError",
        frames=[
            proto.Frame(file="/sandbox/submission.py", line=13, function="unlearning"),
            proto.Frame(file="/sandbox/submission.py", line=9, function="helper"),
            proto.Frame(file="/sandbox/submission.py", line=9, function="x" * 300),
        ],
    )
    reason, message = render(report, up)
    assert reason == "crashed"
    assert message.splitlines()[0] == "unlearning() raised an exception: MyError"
    assert '  File "submission.py", line 9, in helper' in message
    assert '    raise MyError("secret 3 1 4")' in message  # the upload's own line
    assert "(1 reported frames do not match your file" in message
    assert "arena score-local" in message


def test_memory_errors_are_out_of_memory_and_fixed_problems_have_fixed_text(tmp_path):
    up = _upload(tmp_path)
    oom = proto.Failed(event="failed", phase="run", problem="exception", type="MemoryError")
    assert render(oom, up)[0] == "out_of_memory"
    bad = proto.Failed(event="failed", phase="output", problem="bad_return")
    assert render(bad, up) == ("invalid_output", render(bad, up)[1])
    assert "must return the model" in render(bad, up)[1]
    assert render(None, up)[0] == "crashed"
