"""The sandbox's self-check: the fix it names for each reason, and what a report lets a worker do."""

from __future__ import annotations

from worker.sandbox import readiness
from worker.sandbox.readiness import Readiness, diagnose, takes_work


def test_each_reason_names_its_fix(monkeypatch):
    assert "ARENA_UNSAFE_NO_SANDBOX=1" in diagnose("x", system="Darwin")
    assert "cannot be confined on Windows" in diagnose("x", system="Windows")
    assert "apt-get install bubblewrap" in diagnose(
        "bubblewrap (bwrap) is not installed; ...", system="Linux"
    )
    assert "apt-get install libseccomp2" in diagnose(
        "libseccomp is needed for the sandbox's system-call filter", system="Linux"
    )
    assert "useradd --system" in diagnose(
        "neither the sandbox user 'arena-sandbox' nor 'nobody' exists", system="Linux", euid=0
    )

    sysctls: dict[str, str] = {}
    monkeypatch.setattr(readiness, "_read", sysctls.get)
    failed = (
        "bubblewrap cannot create the sandbox here: bwrap: setting up uid map: Permission denied"
    )
    sysctls["/proc/sys/kernel/apparmor_restrict_unprivileged_userns"] = "1"  # Ubuntu 23.10+
    fix = diagnose(failed, system="Linux", euid=1000)
    assert "/etc/apparmor.d/bwrap" in fix and "userns," in fix
    assert "kernel.apparmor_restrict_unprivileged_userns=0" in fix
    sysctls.clear()
    sysctls["/proc/sys/kernel/unprivileged_userns_clone"] = "0"  # Debian's switch
    assert "kernel.unprivileged_userns_clone=1" in diagnose(failed, system="Linux", euid=1000)
    sysctls.clear()
    sysctls["/proc/sys/user/max_user_namespaces"] = "0"
    assert "user.max_user_namespaces=15000" in diagnose(failed, system="Linux", euid=1000)
    sysctls.clear()
    assert "--security-opt" in diagnose(failed, system="Linux", euid=0)  # e.g. in a container


def test_a_worker_takes_work_only_when_ready_or_told_to_run_unconfined():
    ready = Readiness(True, protections=["network: none"])
    broken = Readiness(False, reason="no bwrap", fix="sudo apt-get install bubblewrap")
    unsafe = Readiness(False, reason="no bwrap", fix="...", unconfined=True)
    assert takes_work(ready) and not takes_work(broken) and takes_work(unsafe)
    assert ready.lines() == ["sandbox: ready", "  - network: none"]
    text = "\n".join(broken.lines())
    assert "NOT READY" in text and "reason: no bwrap" in text and "fix: sudo apt-get" in text
    assert "takes no scoring work" in text
    assert "runs UNCONFINED" in "\n".join(unsafe.lines())
    assert broken.as_dict()["ready"] is False and broken.as_dict()["fix"]
