"""Watching a running sandbox: its log (size-capped), its process tree's memory, the status
channel, and the wait for the run to end."""

from __future__ import annotations

import os
import select
import signal
import subprocess
import threading
import time
from collections import deque
from pathlib import Path

from worker.sandbox import protocol as proto
from worker.sandbox.clock import RunClock
from worker.sandbox.run_spec import WATCH_INTERVAL

CLOCK_INTERVAL = 0.05  # the run's clock is read this often: the kill is at most this late


class LogSink(threading.Thread):
    """Copies the run's output to a file, keeping the first and last ``cap/2`` bytes. Each chunk
    costs the worker time in proportion to its size, however much the run writes (the tail is
    a queue of whole chunks, cut once at the end)."""

    def __init__(self, fd: int, path: Path, cap: int) -> None:
        super().__init__(daemon=True)
        self.fd, self.path, self.half = fd, path, max(1, cap // 2)
        self.head = bytearray()
        self.tail: deque[bytes] = deque()
        self.tail_bytes = 0
        self.dropped = 0

    def run(self) -> None:
        while chunk := os.read(self.fd, 65536):
            room = self.half - len(self.head)
            if room > 0:
                self.head += chunk[:room]
                chunk = chunk[room:]
            if chunk:
                self.tail.append(chunk)
                self.tail_bytes += len(chunk)
                while self.tail_bytes - len(self.tail[0]) >= self.half:  # whole chunks only
                    gone = self.tail.popleft()
                    self.tail_bytes -= len(gone)
                    self.dropped += len(gone)
        os.close(self.fd)
        tail = b"".join(self.tail)
        excess = max(0, len(tail) - self.half)
        self.dropped += excess
        with open(self.path, "wb") as out:
            out.write(self.head)
            if self.dropped:
                out.write(f"\n[... {self.dropped} bytes of output truncated ...]\n".encode())
            out.write(tail[excess:])


def _descendants(root: int) -> list[int]:
    children: dict[int, list[int]] = {}
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            with open(f"/proc/{entry.name}/stat", "rb") as fh:
                ppid = int(fh.read().rsplit(b")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue
        children.setdefault(ppid, []).append(int(entry.name))
    out, todo = [], [root]
    while todo:
        pid = todo.pop()
        out.append(pid)
        todo.extend(children.get(pid, []))
    return out


def tree_memory_bytes(root: int) -> int:
    """Memory of a process and all its descendants: the sum of their proportional set sizes
    (shared pages split between sharers, so forked copies are not counted twice)."""
    page = os.sysconf("SC_PAGE_SIZE")
    total = 0
    for pid in _descendants(root):
        try:
            with open(f"/proc/{pid}/smaps_rollup", "rb") as fh:
                for line in fh:
                    if line.startswith(b"Pss:"):
                        total += int(line.split()[1]) * 1024
                        break
            continue
        except (OSError, IndexError, ValueError):
            pass
        try:  # no smaps_rollup: resident set size
            with open(f"/proc/{pid}/statm", "rb") as fh:
                total += int(fh.read().split()[1]) * page
        except (OSError, IndexError, ValueError):
            continue
    return total


def kill_process(proc: subprocess.Popen) -> None:
    """Kill the run's whole sandbox: its process group (and with it the PID namespace)."""
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:  # pragma: no cover - a zombie that will not die
        pass


class Channel:
    """Messages of ``kinds``, one per line, from one pipe. Anything else (a line that does not
    decode to one of them, a partial line, more than ``cap`` bytes in all) marks it ``broken``;
    it is still drained, so the writer never blocks on it."""

    def __init__(self, fd: int, kinds: tuple[type, ...], cap: int) -> None:
        self.fd, self.kinds, self.cap = fd, kinds, cap
        self.buf = b""
        self.total = 0
        self.eof = self.broken = False
        self.messages: list[tuple[float, object]] = []  # (arrival, message)
        self.usage = 0  # the latest Usage report (bytes)

    def pump(self) -> None:
        try:
            chunk = os.read(self.fd, 65536)
        except OSError:  # the other end was killed (connection reset)
            chunk = b""
        if not chunk:
            self.eof = True
            self.broken = self.broken or bool(self.buf)
            self.buf = b""
            return
        self.total += len(chunk)
        if self.broken:  # nothing more it says counts: stop reading (the writer blocks)
            self.eof = True
            return
        if self.total > self.cap:
            self.broken, self.buf, self.eof = True, b"", True
            return
        self.buf += chunk
        while b"\n" in self.buf:
            line, self.buf = self.buf.split(b"\n", 1)
            msg = proto.decode(line, self.kinds)
            if msg is None:
                self.broken, self.buf = True, b""
                return
            if isinstance(msg, proto.Usage):  # a stream: only the latest counts
                self.usage = msg.bytes
                continue
            self.messages.append((time.monotonic(), msg))
        if len(self.buf) > proto.MAX_LINE:
            self.broken, self.buf = True, b""

    def first(self, kind: type) -> tuple[float, object] | None:
        return next(((t, m) for t, m in self.messages if isinstance(m, kind)), None)

    def last(self, kind: type) -> object | None:
        found = [m for _, m in self.messages if isinstance(m, kind)]
        return found[-1] if found else None


class MemoryWatchdog(threading.Thread):
    """Where no cgroup limits memory: sums the proportional memory of the sandbox's process
    tree every WATCH_INTERVAL and kills the sandbox past the limit. A thread of its own, so that
    a slow walk (processes busy forking hold their memory maps' locks) never delays the kill at
    budget + grace."""

    def __init__(self, proc: subprocess.Popen, memory_bytes: int, status: Channel) -> None:
        super().__init__(daemon=True)
        self.proc, self.memory, self.status = proc, memory_bytes, status
        self.tripped = False
        self.stopped = threading.Event()

    def run(self) -> None:
        while not self.stopped.wait(WATCH_INTERVAL):
            shared = self.status.usage  # tmpfs, SysV and memfd, from the run's supervisor
            if tree_memory_bytes(self.proc.pid) + shared > self.memory:
                self.tripped = True
                kill_process(self.proc)
                return


class Watch:
    """Pumps a run's report and status channels until a condition, a deadline, the end of the
    status channel or the memory watchdog's kill; nothing else runs in this loop."""

    def __init__(
        self,
        proc: subprocess.Popen,
        report: Channel,
        status: Channel,
        memory_bytes: int,
        watchdog: bool,
    ) -> None:
        self.proc, self.report, self.status = proc, report, status
        self.watchdog = MemoryWatchdog(proc, memory_bytes, status) if watchdog else None
        if self.watchdog is not None:
            self.watchdog.start()

    @property
    def out_of_memory(self) -> bool:
        return self.watchdog is not None and self.watchdog.tripped

    def stop(self) -> None:
        if self.watchdog is not None:
            self.watchdog.stopped.set()
            self.watchdog.join(timeout=30)

    def on_clock(self, clock: RunClock, done) -> bool:
        """Until ``done()``, the run's clock expiring (budget + grace charged, or the wall
        backstop), the end of the status channel or the memory limit; the clock is read at
        least every CLOCK_INTERVAL."""
        while not done():
            if clock.expired() or self.status.eof or self.out_of_memory:
                return False
            self._pump(CLOCK_INTERVAL)
        return True

    def _pump(self, timeout: float) -> None:
        open_ = [c for c in (self.report, self.status) if not c.eof]
        ready, _, _ = select.select([c.fd for c in open_], [], [], timeout)
        for channel in open_:
            if channel.fd in ready:
                channel.pump()

    def until(self, deadline: float, done) -> bool:
        """Until ``done()``, the deadline, the end of the status channel or the memory limit."""
        while not done():
            now = time.monotonic()
            if now >= deadline or self.status.eof or self.out_of_memory:
                return False
            open_ = [c for c in (self.report, self.status) if not c.eof]
            ready, _, _ = select.select(
                [c.fd for c in open_], [], [], min(deadline - now, WATCH_INTERVAL)
            )
            for channel in open_:
                if channel.fd in ready:
                    channel.pump()
        return True
