"""What a template or job process prints: read from its pipe and logged line by line as it arrives.

Each line is logged the moment its bytes are read (in the protocol's ``data_received``), with the
fields of the job in hand and the job's secrets scrubbed, so that once the pipe holds no unread byte
every line written so far has been logged (``settled`` also logs a last line that has no newline).
That is what ``settled`` waits for after a job's result:
a block flushes what it printed before its result is sent, and those lines must still carry the job's
fields and lose its secrets, which end with the job. A line longer than ``LONGEST_LINE`` is logged in
pieces rather than held.
"""

from __future__ import annotations

import array
import asyncio
import collections
import contextlib
import fcntl
import logging
import os
import termios

from neops_worker.scrub import scrub

log = logging.getLogger("neops_worker.block")

#: Bytes of one line held while its end has not come; more is logged as it is.
LONGEST_LINE = 64 * 1024


class OutputLines(asyncio.Protocol):
    """Logs each line of a process's output, with ``fields``, keeping the last ones in ``tail``."""

    def __init__(self, fields: dict[str, str], tail: collections.deque[str] | None) -> None:
        self.fields = fields
        self.tail = tail
        self._partial = b""
        self.closed: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        #: Set at every read: whoever waits for the pipe to be read looks again.
        self.read = asyncio.Event()

    def data_received(self, data: bytes) -> None:
        """Log every complete line; keep the rest for the next read."""
        self.read.set()
        *lines, self._partial = (self._partial + data).split(b"\n")
        for line in lines:
            self._log(line)
        if len(self._partial) > LONGEST_LINE:
            self._log(self._partial)
            self._partial = b""

    def eof_received(self) -> bool | None:
        """The process closed its end: its last, unterminated line too."""
        self.flush()
        return None

    def connection_lost(self, exc: Exception | None) -> None:
        """Done."""
        self.flush()
        if not self.closed.done():
            self.closed.set_result(None)

    def flush(self) -> None:
        """Log the unterminated line read so far (at the end of a job, or of the output)."""
        if self._partial:
            self._log(self._partial)
            self._partial = b""

    def _log(self, raw: bytes) -> None:
        text = scrub(raw.decode("utf-8", "replace").rstrip("\r"))
        if self.tail is not None:
            self.tail.append(text)
        log.info("%s", text, extra={"stream": "output", **self.fields})


class Output:
    """A process's output pipe on the event loop (it owns the read end from now on)."""

    def __init__(self, fd: int, transport: asyncio.ReadTransport, lines: OutputLines) -> None:
        self.fd = fd
        self.transport = transport
        self.lines = lines

    @classmethod
    async def follow(
        cls, fd: int, fields: dict[str, str] | None = None, tail: collections.deque[str] | None = None
    ) -> Output:
        """Log what is written to ``fd``'s pipe, with ``fields`` (a dict the caller updates per job)."""
        lines = OutputLines({} if fields is None else fields, tail)
        loop = asyncio.get_running_loop()
        transport, _ = await loop.connect_read_pipe(lambda: lines, os.fdopen(fd, "rb", buffering=0))
        return cls(fd, transport, lines)

    def unread(self) -> int:
        """Bytes in the pipe not read yet (0 once it is closed)."""
        if self.transport.is_closing():
            return 0
        count = array.array("i", [0])
        try:
            fcntl.ioctl(self.fd, termios.FIONREAD, count)
        except OSError:
            return 0
        return count[0]

    async def settled(self, timeout: float) -> None:
        """Wait (at most ``timeout``) until every byte written so far has been read, so logged."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while self.unread() and (left := deadline - loop.time()) > 0:
            self.lines.read.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.lines.read.wait(), left)
        self.lines.flush()  # a last line without its newline belongs to this job too

    async def drained(self, timeout: float) -> None:
        """Wait (a little) for the end of the output: the process and what it started are gone."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(asyncio.shield(self.lines.closed), timeout)

    def close(self) -> None:
        """Stop reading."""
        self.transport.close()
