"""TLS and auth: a local HTTPS engine with a private CA made by the ``openssl`` CLI for the test."""

from __future__ import annotations

import os
import shutil
import signal
import ssl
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from neops_worker.engine.client import EngineClient, tls_verify
from neops_worker.engine.wire import RegisterWorker
from neops_worker.errors import EngineRejected
from tests.ops.fake_engine import FakeEngine
from tests.ops.harness import EXAMPLES

CLI = str(Path(sys.executable).parent / "neops_worker")
TOKEN = "tok-5f1d-never-print-me"
SERVER_EXTENSIONS = """\
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature
extendedKeyUsage = serverAuth
subjectAltName = IP:127.0.0.1, DNS:localhost
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid, issuer
"""


@dataclass(frozen=True)
class Pki:
    """A private CA, a server certificate it signed, and an unrelated CA."""

    ca: Path
    other_ca: Path
    server_cert: Path
    server_key: Path

    def server_context(self) -> ssl.SSLContext:
        """The engine's side of the TLS handshake."""
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(self.server_cert, self.server_key)
        return context


def openssl(*args: str | Path) -> None:
    """Run the openssl CLI quietly."""
    subprocess.run(["openssl", *map(str, args)], check=True, capture_output=True)


def make_ca(directory: Path, name: str) -> tuple[Path, Path]:
    """A self-signed CA certificate and its key."""
    cert, key = directory / f"{name}.pem", directory / f"{name}.key"
    openssl(
        "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
        "-keyout", key, "-out", cert, "-days", "2", "-subj", f"/CN=neops {name}",
        "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign,cRLSign",
    )  # fmt: skip
    return cert, key


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    """Certificates for 127.0.0.1 signed by a private CA (skipped without the openssl CLI)."""
    if shutil.which("openssl") is None:
        pytest.skip("the openssl CLI is not installed")
    directory = tmp_path_factory.mktemp("pki")
    ca, ca_key = make_ca(directory, "test-ca")
    other_ca, _ = make_ca(directory, "other-ca")
    key, csr, cert = directory / "server.key", directory / "server.csr", directory / "server.pem"
    (directory / "server.ext").write_text(SERVER_EXTENSIONS)
    openssl(
        "req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
        "-keyout", key, "-out", csr, "-subj", "/CN=127.0.0.1",
    )  # fmt: skip
    openssl(
        "x509", "-req", "-in", csr, "-CA", ca, "-CAkey", ca_key, "-CAcreateserial", "-out", cert,
        "-days", "2", "-extfile", directory / "server.ext",
    )  # fmt: skip
    return Pki(ca, other_ca, cert, key)


@pytest.fixture
def https_engine(pki: Pki) -> Iterator[tuple[FakeEngine, str]]:
    """The fake engine over HTTPS with the private CA's server certificate."""
    engine = FakeEngine()
    with engine.serve(pki.server_context()) as url:
        yield engine, url


def worker_env(url: str, tmp_path: Path, **extra: str) -> dict[str, str]:
    """A clean environment for a worker subprocess against ``url``."""
    ours = ("URL_", "BLACKBOARD_", "HEALTH_", "LOG_", "NOTIFY_", "WATCHDOG_", "STARTUP_", "WORKER_")
    env = {k: v for k, v in os.environ.items() if not k.startswith(ours)}
    env.update(URL_BLACKBOARD=url, DIR_FUNCTION_BLOCKS=str(EXAMPLES), HOME=str(tmp_path), **extra)
    return env


async def test_private_ca_bundle_verifies_the_engine(https_engine: tuple[FakeEngine, str], pki: Pki) -> None:
    """With BLACKBOARD_CA_BUNDLE set to the private CA, calls succeed and carry the bearer token."""
    engine, url = https_engine
    client = EngineClient(url, verify=tls_verify(pki.ca), token=TOKEN)
    try:
        answer = await client.register_worker(RegisterWorker(version="1.0.0"))
    finally:
        await client.aclose()
    assert answer.uuid in engine.workers
    assert engine.authorization == [f"Bearer {TOKEN}"]


@pytest.mark.parametrize("bundle", ["other", None])
async def test_unknown_issuer_is_refused(
    https_engine: tuple[FakeEngine, str], pki: Pki, bundle: str | None
) -> None:
    """https:// verifies by default: the system store and a wrong CA both refuse, permanently (no retry)."""
    _, url = https_engine
    client = EngineClient(url, verify=tls_verify(pki.other_ca if bundle else None))
    try:
        with pytest.raises(EngineRejected, match="CERTIFICATE_VERIFY_FAILED"):
            await client.register_worker(RegisterWorker(version="1.0.0"))
    finally:
        await client.aclose()


def test_worker_with_wrong_ca_exits_with_a_clear_message(
    https_engine: tuple[FakeEngine, str], pki: Pki, tmp_path: Path
) -> None:
    """Registration fails with exit 1 and a line naming the certificate problem, not a traceback."""
    _, url = https_engine
    env = worker_env(url, tmp_path, BLACKBOARD_CA_BUNDLE=str(pki.other_ca))
    done = subprocess.run(
        [CLI], env=env, cwd=tmp_path, capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 1
    assert "Traceback" not in done.stderr
    last = done.stderr.strip().splitlines()[-1]
    assert "worker registration" in last
    assert "certificate verify failed" in last


def test_worker_over_https_never_prints_the_token(
    https_engine: tuple[FakeEngine, str], pki: Pki, tmp_path: Path
) -> None:
    """A worker with CA bundle and token registers, sends the token on every call, and never logs it."""
    engine, url = https_engine
    env = worker_env(
        url, tmp_path, BLACKBOARD_CA_BUNDLE=str(pki.ca), BLACKBOARD_TOKEN=TOKEN, LOG_LEVEL="DEBUG"
    )
    worker = subprocess.Popen([CLI], env=env, cwd=tmp_path, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 30
    while len(engine.blocks) < 4 and time.monotonic() < deadline and worker.poll() is None:
        time.sleep(0.05)
    worker.send_signal(signal.SIGTERM)
    _, stderr = worker.communicate(timeout=30)
    assert worker.returncode == 0, stderr
    assert "Effective configuration" in stderr
    assert TOKEN not in stderr
    assert set(engine.authorization) == {f"Bearer {TOKEN}"}


def test_help_never_shows_the_token(tmp_path: Path) -> None:
    """``run --help`` describes BLACKBOARD_TOKEN without showing the value set in the environment."""
    env = worker_env("http://127.0.0.1:9", tmp_path, BLACKBOARD_TOKEN=TOKEN)
    done = subprocess.run(
        [CLI, "run", "--help"], env=env, cwd=tmp_path, capture_output=True, text=True, timeout=30, check=True
    )
    assert "BLACKBOARD_TOKEN" in done.stdout
    assert TOKEN not in done.stdout + done.stderr
