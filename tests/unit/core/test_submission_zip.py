"""Zip submissions at upload: the entry module found, every problem a 4xx naming the entry."""

from __future__ import annotations

import io
import zipfile

import pytest

from core.errors import Invalid, TooLarge
from core.submission_zip import read_submission_zip
from server.services.uploads import validate_upload

ENTRY = b"from helpers import step\n\ndef unlearning(net, retain_loader, forget_loader, val_loader):\n    return step(net)\n"
HELPER = b"def step(net):\n    return net\n"


def _zip(files: dict[str, bytes], symlink: str | None = None, deflate: bool = False) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED if deflate else zipfile.ZIP_STORED) as zf:
        for name, data in files.items():
            zf.writestr(name, data)
        if symlink:
            info = zipfile.ZipInfo(symlink)
            info.external_attr = 0o120777 << 16
            zf.writestr(info, "/etc/passwd")
    return out.getvalue()


def test_the_entry_is_the_top_level_module_defining_unlearning():
    sub = read_submission_zip(
        _zip({"method/main.py": ENTRY, "method/helpers.py": HELPER, "method/pkg/__init__.py": b"",
              "method/weights.bin": b"\0" * 64, "method/__pycache__/x.pyc": b"\0"}),
        1 << 20, 10,
    )  # fmt: skip
    assert sub.entry == "main.py"  # the one folder is unwrapped, caches skipped
    assert set(sub.files) == {"main.py", "helpers.py", "pkg/__init__.py", "weights.bin"}
    upload = validate_upload("method.zip", _zip({"main.py": ENTRY, "helpers.py": HELPER}), 1 << 20)
    assert upload.kind == "zip"


@pytest.mark.parametrize(
    ("files", "kwargs", "error", "words"),
    [
        ({"../evil.py": ENTRY}, {}, Invalid, "'..'"),
        ({"/abs/main.py": ENTRY}, {}, Invalid, "absolute"),
        ({"main.py": ENTRY, "a\n../../x.py": HELPER}, {}, Invalid, "control characters"),
        ({"main.py": ENTRY}, {"symlink": "link.py"}, Invalid, "link.py: a symbolic link"),
        ({"main.py": ENTRY, "bomb.bin": b"\0" * (3 << 20)}, {"deflate": True}, Invalid, "zip bomb"),
        ({"main.py": ENTRY, "big.bin": b"x" * 5000}, {}, TooLarge, "unpacks to"),
        (
            {f"f{i}.txt": b"x" for i in range(11)} | {"main.py": ENTRY},
            {},
            TooLarge,
            "holds 12 files",
        ),
        (
            {"main.py": ENTRY, "helpers.py": b"def step(:\n"},
            {},
            Invalid,
            "Syntax error in helpers.py at line 1",
        ),
        ({"helpers.py": HELPER}, {}, Invalid, "No .py file at the zip's top defines unlearning"),
        ({"a.py": ENTRY, "b.py": ENTRY}, {}, Invalid, "a.py, b.py"),
        ({"sub/main.py": ENTRY, "x.py": HELPER}, {}, Invalid, "No .py file at the zip's top"),
    ],
)
def test_a_bad_zip_is_refused_saying_which_entry(files, kwargs, error, words):
    limit = 4096 if "big.bin" in files else 1 << 30
    with pytest.raises(error) as info:
        read_submission_zip(_zip(files, **kwargs), limit, 11)
    assert words in info.value.detail


def test_the_entrys_signature_is_checked_and_not_a_zip_is_a_4xx():
    wrong = b"def unlearning(net):\n    return net\n"
    with pytest.raises(Invalid, match="four"):
        validate_upload("m.zip", _zip({"main.py": wrong}), 1 << 20)
    with pytest.raises(Invalid, match="not a readable zip"):
        validate_upload("m.zip", b"PK\x03\x04 broken", 1 << 20)
