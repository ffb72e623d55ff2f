"""Frames: length-prefixed JSON messages between the daemon and its job processes.

What crosses a pipe is plain data, never a pickled object of a user's: a 4-byte big-endian
length, then one UTF-8 JSON object whose ``t`` names the message. Job definitions and results
travel as the engine's own wire JSON.
"""

from __future__ import annotations

import asyncio
import json
import socket
import struct
import threading
from collections.abc import Callable, Sequence
from typing import Any

Message = dict[str, Any]
HEADER = struct.Struct("!I")
#: A frame larger than this is a broken peer, not a message.
MAX_FRAME = 256 * 1024 * 1024


def encode(message: Message) -> bytes:
    """One frame."""
    data = json.dumps(message, separators=(",", ":"), ensure_ascii=False).encode("utf-8", "surrogatepass")
    return HEADER.pack(len(data)) + data


#: What the daemon sends before it SIGTERMs a job process: the signal is meant (``child`` looks for it).
STOP_FRAME = encode({"t": "stop"})


class FrameError(Exception):
    """The peer sent something that is not a frame."""


def decode(data: bytes) -> Message:
    """The message of a frame's body."""
    message = json.loads(data.decode("utf-8", "surrogatepass"))
    if not isinstance(message, dict) or not isinstance(message.get("t"), str):
        raise FrameError(f"not a message: {data[:80]!r}")
    return message


class FrameBuffer:
    """Incremental decoding of a byte stream into messages."""

    def __init__(self) -> None:
        self._data = bytearray()

    def feed(self, data: bytes) -> list[Message]:
        """The messages completed by ``data``."""
        self._data += data
        messages = []
        while len(self._data) >= HEADER.size:
            (size,) = HEADER.unpack_from(self._data)
            if size > MAX_FRAME:
                raise FrameError(f"frame of {size} bytes")
            if len(self._data) < HEADER.size + size:
                break
            messages.append(decode(bytes(self._data[HEADER.size : HEADER.size + size])))
            del self._data[: HEADER.size + size]
        return messages


class FrameSocket:
    """A blocking socket speaking frames (the job process's side); sending is thread-safe."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self._lock = threading.Lock()
        self._buffer = FrameBuffer()
        self._ready: list[Message] = []

    def send(self, message: Message) -> None:
        """Send one message (from any thread)."""
        frame = encode(message)
        with self._lock:
            self.sock.sendall(frame)

    def recv(self) -> Message | None:
        """The next message, or None when the peer closed the socket."""
        while not self._ready:
            data = self.sock.recv(1 << 16)
            if not data:
                return None
            self._ready.extend(self._buffer.feed(data))
        return self._ready.pop(0)


def recv_with_fds(sock: socket.socket, buffer: FrameBuffer, fds: list[int]) -> list[Message] | None:
    """Messages of one read, collecting passed descriptors into ``fds``; None at end of stream."""
    data, received, _flags, _address = socket.recv_fds(sock, 1 << 16, 8)
    fds.extend(received)
    if not data:
        return None
    return buffer.feed(data)


def send_with_fds(sock: socket.socket, message: Message, fds: Sequence[int]) -> None:
    """Send one message with open descriptors attached (the receiver gets its own copies)."""
    socket.send_fds(sock, [encode(message)], list(fds))


class FrameProtocol(asyncio.Protocol):
    """Frames arriving on a stream socket, each handed to ``on_message`` as soon as it is complete.

    No reader task in between: a message is delivered in the loop iteration its last byte arrives
    in. ``on_close`` is told once, when the peer hangs up or sends something that is not a frame
    (the connection is then closed).
    """

    def __init__(self, on_message: Callable[[Message], None], on_close: Callable[[], None]) -> None:
        self._on_message = on_message
        self._on_close = on_close
        self._buffer = FrameBuffer()
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        """Keep the transport, to close it on a broken frame."""
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        """Deliver the messages ``data`` completes."""
        try:
            messages = self._buffer.feed(data)
        except (FrameError, ValueError):
            if self.transport is not None:
                self.transport.close()
            return
        for message in messages:
            self._on_message(message)

    def connection_lost(self, exc: Exception | None) -> None:
        """The peer is gone."""
        self._on_close()


async def read_frame(reader: asyncio.StreamReader) -> Message | None:
    """The next message from an asyncio stream, or None at its end."""
    try:
        header = await reader.readexactly(HEADER.size)
        (size,) = HEADER.unpack(header)
        if size > MAX_FRAME:
            raise FrameError(f"frame of {size} bytes")
        return decode(await reader.readexactly(size))
    except asyncio.IncompleteReadError:
        return None
