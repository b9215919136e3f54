"""The one-shot jail for organizer code: where it mounts its inputs."""

from __future__ import annotations

import pytest

from core.jailed import CHECK_DIR, JailUnavailable, inputs_mount


def test_the_inputs_go_to_check_unless_a_bound_folder_lies_there():
    assert inputs_mount(("/work/main/.venv", "/usr/local")) == CHECK_DIR == "/check"
    assert inputs_mount(("/checkout/.venv",)) == "/check"  # a prefix of the name is no clash
    # CI clones the project under /check: mounting there would hide its own interpreter
    moved = inputs_mount(("/check/work/main/.venv", "/check/work/main/core"))
    assert moved != "/check" and not "/check/work/main".startswith(moved + "/")
    assert inputs_mount(("/check",)) != "/check"


def test_no_free_mount_point_is_a_clear_refusal():
    with pytest.raises(JailUnavailable, match="no free mount point"):
        inputs_mount(("/check/a", "/arena-check/b", "/.arena-check/c"))
