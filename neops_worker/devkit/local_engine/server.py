"""Running the local engine: in a background thread (:class:`LocalEngine`) or the foreground (:func:`serve`).

Development and tests only: this is **not the production engine**. uvicorn serves the app with
httptools and uvloop when they are installed, and without an access log, which would cost more than
the requests themselves.
"""

from __future__ import annotations

import contextlib
import signal
import socket
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from types import FrameType, TracebackType

from neops_worker.devkit.local_engine._deps import ENGINE_DEPS_HINT, EngineDependencyError
from neops_worker.devkit.local_engine.options import EngineOptions, default_db_path
from neops_worker.devkit.local_engine.store import Clock, EngineStore
from neops_worker.worker.observers.health import listener_url

try:
    import uvicorn
    from starlette.types import ASGIApp

    from neops_worker.devkit.local_engine.app import create_app
except ImportError as exc:  # pragma: no cover - depends on the installed dependency groups
    raise EngineDependencyError(ENGINE_DEPS_HINT) from exc

#: Wraps the app, e.g. in fault-injection middleware.
AppWrapper = Callable[[ASGIApp], ASGIApp]

#: How long a stop waits for open requests before uvicorn cancels them.
GRACEFUL_SHUTDOWN_S = 2


def bind_socket(host: str, port: int) -> socket.socket:
    """A listening TCP socket on ``host:port``; port 0 picks a free port (read it from the socket)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    # A restarted engine must get its port back although connections of the killed one linger.
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
        sock.listen(2048)
    except OSError:
        sock.close()
        raise
    return sock


def url_of(sock: socket.socket) -> str:
    """The base URL a client on this machine uses to reach the socket."""
    host, port = sock.getsockname()[:2]
    return listener_url(host, port)


def build_server(
    store: EngineStore, sock: socket.socket, wrap_app: AppWrapper | None, log_level: str
) -> uvicorn.Server:
    """A uvicorn server for the engine app over ``store``; it does not configure logging."""
    app: ASGIApp = create_app(store)
    if wrap_app is not None:
        app = wrap_app(app)
    host, port = sock.getsockname()[:2]
    config = uvicorn.Config(
        app,
        host=host,
        port=port,
        loop="auto",
        http="auto",
        lifespan="on",
        access_log=False,
        proxy_headers=False,
        log_config=None,
        log_level=log_level,
        timeout_graceful_shutdown=GRACEFUL_SHUTDOWN_S,
    )
    return uvicorn.Server(config)


class LocalEngine:
    """The local engine served from a background thread; for tests and demos, not for production.

    ``port=0`` binds a free port; :attr:`url` tells which. Use as ``with LocalEngine() as engine:`` or
    call :meth:`start` and :meth:`stop`. :attr:`store` gives direct access to the state.
    """

    def __init__(
        self,
        db_path: str | Path = ":memory:",
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        options: EngineOptions | None = None,
        wrap_app: AppWrapper | None = None,
        clock: Clock = time.time,
        log_level: str = "warning",
    ) -> None:
        self._db_path = db_path
        self._host = host
        self._port = port
        self._options = options or EngineOptions()
        self._wrap_app = wrap_app
        self._clock = clock
        self._log_level = log_level
        self._running: _Running | None = None

    def start(self, timeout_s: float = 10.0) -> LocalEngine:
        """Open the store, bind the socket and serve until :meth:`stop`; returns once requests are served."""
        if self._running is not None:
            raise RuntimeError("the local engine is already running")
        with contextlib.ExitStack() as undo:  # releases what was acquired if a later step fails
            store = EngineStore.open(self._db_path, self._options, self._clock)
            undo.callback(store.close)
            sock = bind_socket(self._host, self._port)
            undo.callback(sock.close)
            running = _Running(store, build_server(store, sock, self._wrap_app, self._log_level), sock)
            running.start(timeout_s)
            undo.pop_all()
        self._running = running
        return self

    def stop(self, timeout_s: float = 10.0) -> None:
        """Stop serving, wait for the thread, close the store; a no-op when not running."""
        running, self._running = self._running, None
        if running is not None:
            running.stop(timeout_s)

    @property
    def url(self) -> str:
        """The base URL, e.g. ``http://127.0.0.1:41237``."""
        return self._require().url

    @property
    def port(self) -> int:
        """The bound port (the real one when 0 was asked for)."""
        return int(self._require().sock.getsockname()[1])

    @property
    def store(self) -> EngineStore:
        """The running engine's store (thread-safe)."""
        return self._require().store

    def _require(self) -> _Running:
        if self._running is None:
            raise RuntimeError("the local engine is not running; call start() first")
        return self._running

    def __enter__(self) -> LocalEngine:
        return self.start()

    def __exit__(self, *_exc: object) -> None:
        self.stop()

    async def __aenter__(self) -> LocalEngine:
        import asyncio

        return await asyncio.to_thread(self.start)

    async def __aexit__(
        self, _type: type[BaseException] | None, _exc: BaseException | None, _tb: TracebackType | None
    ) -> None:
        import asyncio

        await asyncio.to_thread(self.stop)


class _Running:
    """One run of a :class:`LocalEngine`: store, uvicorn server, socket and the serving thread."""

    def __init__(self, store: EngineStore, server: uvicorn.Server, sock: socket.socket) -> None:
        self.store = store
        self.server = server
        self.sock = sock
        self.url = url_of(sock)
        self.thread = threading.Thread(
            target=server.run, kwargs={"sockets": [sock]}, name="local-engine", daemon=True
        )

    def start(self, timeout_s: float) -> None:
        """Start the serving thread and wait until uvicorn reports it is serving."""
        self.thread.start()
        deadline = time.monotonic() + timeout_s
        while not self.server.started:
            if not self.thread.is_alive() or time.monotonic() > deadline:
                self._halt(timeout_s=1.0)
                raise RuntimeError("the local engine did not start (see the log)")
            time.sleep(0.005)

    def stop(self, timeout_s: float) -> None:
        """Stop serving, then release the socket and the store."""
        self._halt(timeout_s)
        self.sock.close()
        if not self.thread.is_alive():  # a hung thread may still use the store; leave it to the process exit
            self.store.close()

    def _halt(self, timeout_s: float) -> None:
        """Ask uvicorn to exit and wait for the thread, forcing the exit after ``timeout_s``."""
        self.server.should_exit = True
        self.thread.join(timeout_s)
        if self.thread.is_alive():
            self.server.force_exit = True
            self.thread.join(timeout_s)


def serve(
    host: str = "127.0.0.1",
    port: int = 3030,
    db_path: str | Path | None = None,
    *,
    options: EngineOptions | None = None,
    wrap_app: AppWrapper | None = None,
    log_level: str = "info",
    on_ready: Callable[[str], None] | None = None,
) -> None:
    """Serve the local engine in the foreground until SIGINT or SIGTERM, then return (blocking).

    ``db_path`` defaults to :func:`default_db_path`. ``on_ready`` gets the base URL once the socket
    listens (connections made from then on are served as soon as the app has started).
    Development only: not the production engine.
    """
    store = EngineStore.open(db_path or default_db_path(), options)
    try:
        sock = bind_socket(host, port)
        server = build_server(store, sock, wrap_app, log_level)
        with _stop_on_signals(server):
            if on_ready is not None:
                on_ready(url_of(sock))
            server.run(sockets=[sock])
        sock.close()
    finally:
        store.close()


@contextlib.contextmanager
def _stop_on_signals(server: uvicorn.Server) -> Iterator[None]:
    """SIGINT/SIGTERM stop the server, also before uvicorn installs its own handlers.

    uvicorn re-raises a captured signal after its graceful shutdown; these handlers are what it then
    reaches, so the process returns from :func:`serve` instead of dying by the signal.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def request_stop(_signum: int, _frame: FrameType | None) -> None:
        server.should_exit = True

    previous = {sig: signal.signal(sig, request_stop) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
