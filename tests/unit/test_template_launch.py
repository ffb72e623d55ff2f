"""How the template process is started and reaped (``worker.jobprocess.launch``), with real processes."""

from __future__ import annotations

import asyncio
import os
import signal
import ssl
import subprocess
import sys
import threading
from pathlib import Path

from neops_worker.engine.exchange import ThreadedExchange, exchange_for
from neops_worker.settings import Settings
from neops_worker.worker.jobprocess.launch import fork_template, wait_for_exit


def _spawn(*argv: str) -> int:
    return os.posix_spawn("/bin/sh", ["/bin/sh", "-c", *argv], dict(os.environ))


def test_wait_for_exit_gives_the_exit_code_and_reaps() -> None:
    """An exit status, and a death by signal as its negative number; the child is reaped."""
    exited = _spawn("exit 3")
    killed = _spawn("sleep 30")
    os.kill(killed, signal.SIGKILL)

    async def both() -> list[int]:
        return list(await asyncio.gather(wait_for_exit(exited), wait_for_exit(killed)))

    assert asyncio.run(both()) == [3, -signal.SIGKILL]
    for pid in (exited, killed):
        try:
            os.waitpid(pid, os.WNOHANG)
        except ChildProcessError:
            continue
        raise AssertionError(f"{pid} was not reaped")


def test_wait_for_exit_waits_for_a_running_child() -> None:
    """A child still running is waited for, not reported at once."""
    pid = _spawn("sleep 0.3; exit 5")

    async def timed() -> tuple[int, float]:
        loop = asyncio.get_running_loop()
        started = loop.time()
        return await wait_for_exit(pid), loop.time() - started

    code, waited = asyncio.run(timed())
    assert code == 5
    assert waited >= 0.25


def test_no_fork_while_threads_run(tmp_path: Path) -> None:
    """Forking a process with threads is unsafe: the early fork declines, the template is spawned later."""
    settings = Settings(url_blackboard="http://127.0.0.1:9", dir_function_blocks=[str(tmp_path)])
    stop = threading.Event()
    thread = threading.Thread(target=stop.wait)
    thread.start()
    try:
        assert fork_template(settings) is None
    finally:
        stop.set()
        thread.join()


def _context(url: str) -> ssl.SSLContext:
    exchange = exchange_for(url, True, None)
    assert isinstance(exchange, ThreadedExchange)
    pool = exchange.transport._pool  # type: ignore[attr-defined]
    context: ssl.SSLContext = pool._ssl_context
    return context


def test_plain_http_loads_no_certificate_store() -> None:
    """Over plain HTTP the client trusts no certificate (nothing loaded); over HTTPS it verifies."""
    plain = _context("http://127.0.0.1:9")
    assert plain.cert_store_stats()["x509_ca"] == 0
    assert plain.verify_mode == ssl.CERT_REQUIRED  # fails closed should TLS ever be attempted
    assert _context("https://engine.example").verify_mode == ssl.CERT_REQUIRED


def test_a_forked_template_prints_to_its_descriptors_whatever_the_daemon_had() -> None:
    """A daemon whose ``sys.stdout`` is a capture (a test runner's): the template still prints to fd 1."""
    code = (
        "import io, sys; sys.stdout = io.StringIO(); sys.stderr = io.StringIO(); "
        "from neops_worker.worker.jobprocess.launch import _streams_on_descriptors; "
        "_streams_on_descriptors(); print('to the pipe'); print('and this', file=sys.stderr)"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert (done.stdout, done.stderr) == ("to the pipe\n", "and this\n")
