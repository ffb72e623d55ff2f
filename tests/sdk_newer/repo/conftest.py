"""The remote lab fixture of the block tests: two FRR routers, shared by the tests that use them."""

# mypy: ignore-errors
from pathlib import Path

try:
    from neops_remote_lab.testing.fixture import remote_lab_fixture
except ModuleNotFoundError:  # the lab package is in the test extra; without it the lab tests skip
    remote_lab_fixture = None

TOPOLOGIES = Path(__file__).parent / "topologies"

if remote_lab_fixture is not None:
    two_routers = remote_lab_fixture(TOPOLOGIES / "two_routers.yml", reuse_lab=True)
