"""Running the engine: free ports, the async runner, middleware, the module entry point, dependencies."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx
import pytest

from neops_worker.devkit.local_engine import EngineOptions, EngineProcess, LocalEngine, default_db_path
from neops_worker.devkit.local_engine.__main__ import build_parser, options_from
from neops_worker.devkit.local_engine.options import KB
from neops_worker.devkit.local_engine.process import option_arguments
from tests.contract import PREVIOUS
from tests.local_engine.helpers import Api


def test_port_zero_binds_a_real_free_port() -> None:
    """Two engines on port 0 get distinct real ports and serve on their URLs."""
    with LocalEngine() as first, LocalEngine() as second:
        assert first.port != second.port
        assert first.port > 0
        assert first.url == f"http://127.0.0.1:{first.port}"
        assert httpx.get(f"{second.url}/health").json() == {"healthy": True}


async def test_async_context_manager_runs_the_engine() -> None:
    """``async with LocalEngine()`` serves inside and stops afterwards."""
    async with LocalEngine() as engine, httpx.AsyncClient(base_url=engine.url) as client:
        assert (await client.get("/health")).status_code == 200
    with pytest.raises(RuntimeError, match="not running"):
        _ = engine.url


def test_app_can_be_wrapped_in_asgi_middleware() -> None:
    """wrap_app puts middleware in front of the app, e.g. to inject a fault."""

    def unavailable_health(app: Any) -> Any:
        async def middleware(scope: Any, receive: Any, send: Any) -> None:
            if scope["type"] == "http" and scope["path"] == "/health":
                await send({"type": "http.response.start", "status": 503, "headers": []})
                await send({"type": "http.response.body", "body": b""})
                return
            await app(scope, receive, send)

        return middleware

    with LocalEngine(wrap_app=unavailable_health) as engine:
        assert httpx.get(f"{engine.url}/health").status_code == 503
        assert httpx.get(f"{engine.url}/version").status_code == 200


def test_engine_process_serves_and_exits_0_on_sigterm(tmp_path: Path) -> None:
    """``python -m neops_worker.devkit.local_engine --port 0``: announces its URL, serves, exits 0 on TERM."""
    engine = EngineProcess(
        tmp_path / "e.sqlite3", options=EngineOptions(compatible=False), log_path=tmp_path / "log"
    )
    with engine:
        api = Api.connect(engine.url)
        body = {"version": "0.42.1", "library": "neops_workflow_engine_client"}
        assert api.http.post("/version/compatibility", json=body).json()["compatible"] is False
        api.http.close()
    assert engine.terminate() == 0
    assert not engine.running


def test_engine_process_speaks_the_contract_it_is_given(tmp_path: Path) -> None:
    """An engine child started with contract 0.42.1 answers as one (version, ping without a body)."""
    engine = EngineProcess(
        tmp_path / "e.sqlite3", options=EngineOptions(contract="0.42.1"), log_path=tmp_path / "log"
    )
    with engine:
        api = Api.connect(engine.url, PREVIOUS)
        assert api.http.get("/version").json() == {"version": "0.42.1-local"}
        assert api.http.post(f"/workers/{api.register_worker()}/ping").content == b""
        api.http.close()


def test_every_option_reaches_the_engine_process() -> None:
    """The child's command line gives back exactly the options it was built from."""
    options = EngineOptions(
        heartbeat_interval_s=1.5,
        unreachable_after=3,
        offline_after=7,
        sweep_interval_s=0.25,
        contract="0.42.1",
        engine_version="9.9.9",
        compatible=False,
        deprecated=True,
        max_retries=0,
        max_workers=2,
        max_function_blocks=5,
        max_body_size=300 * KB,
        stuck_job_timeout_s=90,
    )
    assert options_from(build_parser().parse_args(option_arguments(options))) == options
    assert options_from(build_parser().parse_args(option_arguments(EngineOptions()))) == EngineOptions()


def test_entry_point_rejects_inconsistent_thresholds() -> None:
    """Offline before unreachable is a usage error (exit 2) naming the problem."""
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "neops_worker.devkit.local_engine",
            "--unreachable-after",
            "5",
            "--offline-after",
            "2",
        ],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert result.returncode == 2
    assert "--offline-after (2) must be more than --unreachable-after (5)" in result.stderr


def test_importing_the_package_does_not_need_starlette() -> None:
    """Without starlette the store still imports; asking for the server names the dependency group."""
    code = (
        "import sys\n"
        "sys.modules['starlette'] = None\n"
        "sys.modules['uvicorn'] = None\n"
        "import neops_worker, neops_worker.devkit.local_engine as le\n"
        "store = le.EngineStore.open(':memory:')\n"
        "try:\n"
        "    le.LocalEngine\n"
        "except le.EngineDependencyError as exc:\n"
        "    print(exc)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=30, check=True
    )
    assert "needs the 'engine' dependency group: uv sync --group engine" in result.stdout


def test_default_db_path_follows_xdg_data_home(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """The default database lives under $XDG_DATA_HOME, else under ~/.local/share."""
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path))
    assert default_db_path() == tmp_path / "neops_worker" / "engine.sqlite3"
    monkeypatch.delenv("XDG_DATA_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert default_db_path() == tmp_path / "home" / ".local" / "share" / "neops_worker" / "engine.sqlite3"


@pytest.mark.parametrize(
    "wrong",
    [
        {"contract": "0.41.0"},
        {"max_retries": -1},
        {"max_workers": -1},
        {"max_body_size": 0},
        {"stuck_job_timeout_s": -1},
    ],
)
def test_options_reject_impossible_limits(wrong: dict[str, object]) -> None:
    """An unknown contract, negative counts, an empty body limit and a negative timeout are refused."""
    with pytest.raises(ValueError, match=next(iter(wrong)).removesuffix("_s")):
        EngineOptions(**wrong)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("heartbeat", "unreachable", "offline", "sweep"),
    [(0.0, 2.0, 5.0, None), (10.0, 3.0, 3.0, None), (10.0, 2.0, 5.0, -1.0)],
)
def test_options_reject_nonsense(
    heartbeat: float, unreachable: float, offline: float, sweep: float | None
) -> None:
    """Non-positive intervals and an offline threshold not above the unreachable one are refused."""
    with pytest.raises(ValueError, match=r"must|need"):
        EngineOptions(
            heartbeat_interval_s=heartbeat,
            unreachable_after=unreachable,
            offline_after=offline,
            sweep_interval_s=sweep,
        )
