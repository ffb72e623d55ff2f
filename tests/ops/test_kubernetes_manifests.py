"""The manifests of deploy/kubernetes: valid for the API server and KEDA, applied, and consistent.

Core kinds are validated with ``kubernetes-validate`` (the upstream OpenAPI schemas, strict: an unknown
field fails, as ``kubectl apply`` with its default server-side field validation does), KEDA kinds with
``jsonschema`` against the CustomResourceDefinitions in tests/kubernetes/crds/, closed the same way.
Kustomize is not installed: ``render`` applies the few kustomization features the overlays use.
"""

from __future__ import annotations

import copy
import functools
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import jsonschema
import kubernetes_validate  # type: ignore[import-untyped]  # the package ships no type information
import pytest
import yaml

from tests.monitoring.support import BACKLOG_METRICS, WORKER_METRICS

Manifest = dict[str, Any]

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy" / "kubernetes"
CRDS = ROOT / "tests" / "kubernetes" / "crds"
#: The oldest Kubernetes with every field used here generally available (Job podFailurePolicy and
#: PodDisruptionBudget unhealthyPodEvictionPolicy: 1.31); newer servers accept these manifests too.
KUBERNETES_VERSION = "1.31"
KEDA_CRDS = {"ScaledObject": "keda.sh_scaledobjects.yaml", "ScaledJob": "keda.sh_scaledjobs.yaml"}
#: The directories docs/operations.md tells to ``kubectl apply -k`` (backlog-exporter/ is a part of two).
ENTRY_POINTS = (".", "autoscaling", "burst")
#: Manifests no kustomization applies, on purpose: the real Secret is created out of band.
NOT_APPLIED = {"secret.example.yaml"}
#: terminationGracePeriodSeconds = SHUTDOWN_TIMEOUT + this: the result push and the unregister calls.
GRACE_MARGIN = 30
#: The cluster autoscaler's --max-graceful-termination-sec default: it kills a drained pod after this.
AUTOSCALER_GRACE_LIMIT = 600
#: The worker's defaults (neops_worker/settings.py) for a pod that sets neither.
DEFAULTS = {"SHUTDOWN_TIMEOUT": "60", "WORKER_SLOTS": "1"}
#: The series a worker daemon and the backlog exporter expose, read off their own registries.
KNOWN_METRICS = WORKER_METRICS | BACKLOG_METRICS
MEMORY_LINE = re.compile(
    r"memory: request (\d+) MiB \+ (\d+) MiB per slot, limit (\d+) MiB \+ (\d+) MiB per slot"
)


def documents(path: Path) -> list[Manifest]:
    """The YAML documents of one file, empty ones left out (a copy each call: tests mutate them)."""
    return copy.deepcopy(parsed(path))


@functools.cache
def parsed(path: Path) -> list[Manifest]:
    """The YAML documents of one file, read once (libyaml's parser where present: the CRDs are large)."""
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    return [doc for doc in yaml.load_all(path.read_text(), Loader=loader) if doc is not None]


def manifest_files() -> list[Path]:
    """Every Kubernetes manifest under deploy/kubernetes (kustomization files are not manifests)."""
    files = sorted([*DEPLOY.rglob("*.yaml"), *DEPLOY.rglob("*.yml")])
    return [path for path in files if path.name != "kustomization.yaml"]


def kustomizations() -> list[Path]:
    """Every directory under deploy/kubernetes that ``kubectl apply -k`` can take."""
    return sorted(path.parent for path in DEPLOY.rglob("kustomization.yaml"))


def rel(path: Path) -> str:
    """A path as the repository names it."""
    return str(path.relative_to(ROOT))


# --- validation ------------------------------------------------------------------------------------


def core_errors(manifest: Manifest) -> list[str]:
    """What the upstream schema of a core kind finds wrong with ``manifest`` (strict: no unknown field)."""
    try:
        kubernetes_validate.validate(manifest, KUBERNETES_VERSION, strict=True)
    except kubernetes_validate.ValidationError as error:
        return [f"{'.'.join(str(part) for part in error.path)}: {error.message}"]
    return []


def closed(schema: Any) -> Any:
    """An OpenAPI schema of a CRD for jsonschema: ``x-kubernetes-*`` keys dropped, objects closed.

    The API server drops (or, under kubectl's strict field validation, refuses) fields a structural
    schema does not name; ``additionalProperties: false`` makes jsonschema refuse them too.
    """
    if isinstance(schema, list):
        return [closed(item) for item in schema]
    if not isinstance(schema, dict):
        return schema
    result = {key: closed(value) for key, value in schema.items() if not key.startswith("x-kubernetes-")}
    open_ended = schema.get("x-kubernetes-preserve-unknown-fields") or "additionalProperties" in schema
    if "properties" in schema and not open_ended:
        result["additionalProperties"] = False
    if "properties" in schema:  # property names are names, not schema keys: keep them all
        result["properties"] = {name: closed(value) for name, value in schema["properties"].items()}
    return result


@functools.cache
def keda_validator(kind: str) -> jsonschema.Draft4Validator:
    """A validator for one KEDA kind, from the schema of its CRD (OpenAPI v3.0 is close to draft 4)."""
    (crd,) = parsed(CRDS / KEDA_CRDS[kind])  # closed() copies what it keeps
    (version,) = crd["spec"]["versions"]
    return jsonschema.Draft4Validator(closed(version["schema"]["openAPIV3Schema"]))


def keda_errors(manifest: Manifest) -> list[str]:
    """What KEDA's CRD finds wrong with ``manifest``; a ScaledJob's Job is also checked as a Job."""
    validator = keda_validator(manifest["kind"])
    found = [f"{'.'.join(str(p) for p in e.path)}: {e.message}" for e in validator.iter_errors(manifest)]
    if manifest["kind"] == "ScaledJob" and "jobTargetRef" in manifest.get("spec", {}):
        job = {"apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": "job"}}
        job["spec"] = manifest["spec"]["jobTargetRef"]
        found += [f"spec.jobTargetRef (as a Job): {error}" for error in core_errors(job)]
    return found


def errors(manifest: Manifest) -> list[str]:
    """Everything wrong with one manifest, whatever its kind."""
    if manifest.get("kind") in KEDA_CRDS:
        assert manifest["apiVersion"] == "keda.sh/v1alpha1", manifest["apiVersion"]
        return keda_errors(manifest)
    return core_errors(manifest)


@pytest.mark.parametrize("path", manifest_files(), ids=rel)
def test_every_manifest_is_valid(path: Path) -> None:
    """Each document of each manifest file passes its kind's schema: upstream for core kinds, KEDA's CRDs."""
    docs = documents(path)
    assert docs, f"{rel(path)} holds no manifest"
    for manifest in docs:
        assert errors(manifest) == [], f"{rel(path)}: {manifest['kind']} {manifest['metadata']['name']}"


def deployment() -> Manifest:
    """The worker Deployment as shipped."""
    (manifest,) = documents(DEPLOY / "worker" / "deployment.yaml")
    return manifest


def scaled_object() -> Manifest:
    """The ScaledObject as shipped."""
    (manifest,) = documents(DEPLOY / "autoscaling" / "scaledobject.yaml")
    return manifest


def scaled_job() -> Manifest:
    """The ScaledJob as shipped."""
    (manifest,) = documents(DEPLOY / "burst" / "scaledjob.yaml")
    return manifest


def service() -> Manifest:
    """The backlog exporter's Service as shipped."""
    (manifest,) = documents(DEPLOY / "backlog-exporter" / "service.yaml")
    return manifest


def break_grace_field(m: Manifest) -> None:
    """A misspelt field: refused by strict validation."""
    m["spec"]["template"]["spec"]["terminationGracePeriodSecond"] = 90


def break_replicas_type(m: Manifest) -> None:
    """A string where an integer belongs."""
    m["spec"]["replicas"] = "two"


def break_cooldown_field(m: Manifest) -> None:
    """A field KEDA's schema does not know."""
    m["spec"]["cooldownPeriods"] = 600


def break_trigger_type(m: Manifest) -> None:
    """A trigger without its required type."""
    del m["spec"]["triggers"][0]["type"]


def break_min_replicas_type(m: Manifest) -> None:
    """A string where KEDA wants an integer."""
    m["spec"]["minReplicaCount"] = "zero"


def break_strategy_enum(m: Manifest) -> None:
    """A scaling strategy KEDA does not have."""
    m["spec"]["scalingStrategy"]["strategy"] = "fastest"


def break_job_container(m: Manifest) -> None:
    """A mistake inside the ScaledJob's Job, which only the Job's own schema sees."""
    m["spec"]["jobTargetRef"]["template"]["spec"]["containers"][0]["imagePullPolicy"] = 42


def break_service_port(m: Manifest) -> None:
    """A port name where the Service wants its number."""
    m["spec"]["ports"][0]["port"] = "metrics"


@pytest.mark.parametrize(
    ("original", "mutate"),
    [
        (deployment, break_grace_field),
        (deployment, break_replicas_type),
        (scaled_object, break_cooldown_field),
        (scaled_object, break_trigger_type),
        (scaled_object, break_min_replicas_type),
        (scaled_job, break_strategy_enum),
        (scaled_job, break_job_container),
        (service, break_service_port),
    ],
    ids=lambda value: value.__name__,
)
def test_a_broken_manifest_is_caught(original: Any, mutate: Any) -> None:
    """A mutated copy of a valid manifest fails validation: the checks above cannot pass vacuously."""
    manifest = original()
    assert errors(manifest) == []
    broken = copy.deepcopy(manifest)
    mutate(broken)
    assert errors(broken) != []


# --- kustomize -------------------------------------------------------------------------------------


def render(directory: Path, used: set[Path] | None = None, within: tuple[Path, ...] = ()) -> list[Manifest]:
    """The manifests ``kubectl apply -k directory`` applies (the features these files use, no more).

    ``used`` collects every manifest file read; ``within`` holds the kustomizations that include this
    one. Anything else in a kustomization fails here, so that a new feature gets taught to this test
    rather than silently ignored.
    """
    within = (*within, directory)
    kustomization = documents(directory / "kustomization.yaml")[0]
    assert kustomization["kind"] == "Kustomization"
    unknown = set(kustomization) - {"apiVersion", "kind", "resources", "patches"}
    assert not unknown, f"{rel(directory)}: this test's renderer does not know {sorted(unknown)}"
    rendered: list[Manifest] = []
    for entry in kustomization["resources"]:
        path = (directory / entry).resolve()
        if path.is_dir():
            assert (path / "kustomization.yaml").is_file(), f"{rel(directory)}: {entry} is no kustomization"
            # kustomize refuses a base that contains a kustomization it is building ("cycle detected").
            cycle = any(root.is_relative_to(path) for root in within)
            assert not cycle, f"{rel(directory)}: {entry} contains a kustomization it is part of"
            rendered += render(path, used, within)
            continue
        # kubectl's kustomize refuses files outside the kustomization's own directory.
        assert path.is_relative_to(directory), f"{rel(directory)}: {entry} is outside its directory"
        rendered += documents(path)
        if used is not None:
            used.add(path)
    for patch in kustomization.get("patches", []):
        rendered = patched(rendered, patch, directory)
    return rendered


def patched(rendered: list[Manifest], patch: Manifest, directory: Path) -> list[Manifest]:
    """``rendered`` after one inline patch: a JSON 6902 ``remove`` or a strategic ``$patch: delete``."""
    assert set(patch) <= {"patch", "target"}, f"{rel(directory)}: patch with {sorted(patch)}"
    body = yaml.safe_load(patch["patch"])
    if isinstance(body, dict):
        assert body.pop("$patch") == "delete", f"{rel(directory)}: only $patch: delete is known here"
        doomed = [m for m in rendered if same_object(m, body)]
        assert len(doomed) == 1, f"{rel(directory)}: {body} matches {len(doomed)} manifests"
        return [m for m in rendered if m is not doomed[0]]
    target = patch["target"]
    matches = [m for m in rendered if m["kind"] == target["kind"] and m["metadata"]["name"] == target["name"]]
    assert len(matches) == 1, f"{rel(directory)}: {target} matches {len(matches)} manifests"
    assert matches[0]["apiVersion"] == f"{target['group']}/{target['version']}"
    target_copy = copy.deepcopy(matches[0])
    for operation in body:
        remove(target_copy, operation, directory)
    return [target_copy if m is matches[0] else m for m in rendered]


def remove(manifest: Manifest, operation: Manifest, directory: Path) -> None:
    """Apply one JSON 6902 ``remove`` to ``manifest`` (the path must exist, as kustomize requires)."""
    assert operation["op"] == "remove", f"{rel(directory)}: only op remove is known here"
    *parents, last = operation["path"].strip("/").split("/")
    node = manifest
    for key in parents:
        node = node[key]
    assert last in node, f"{rel(directory)}: {operation['path']} is not in {manifest['metadata']['name']}"
    del node[last]


def object_id(manifest: Manifest) -> tuple[str, str, str]:
    """What names an object for kustomize and the API server: API group, kind, name."""
    return manifest["apiVersion"].rpartition("/")[0], manifest["kind"], manifest["metadata"]["name"]


def same_object(one: Manifest, other: Manifest) -> bool:
    """Whether two manifests name the same object."""
    return object_id(one) == object_id(other)


@pytest.mark.parametrize("directory", kustomizations(), ids=rel)
def test_every_kustomization_renders_without_clashes(directory: Path) -> None:
    """Each kustomization renders, with each object once (kustomize refuses an object named twice)."""
    rendered = render(directory)
    assert rendered
    ids = [object_id(m) for m in rendered]
    assert len(ids) == len(set(ids)), f"{rel(directory)}: an object twice in {sorted(ids)}"


@pytest.mark.parametrize("directory", ENTRY_POINTS, ids=str)
def test_every_entry_point_applies_the_config_maps_its_pods_read(directory: str) -> None:
    """``kubectl apply -k`` of a documented directory brings every ConfigMap its pods read."""
    rendered = render(DEPLOY / directory)
    config_maps = {m["metadata"]["name"] for m in rendered if m["kind"] == "ConfigMap"}
    assert config_map_references(rendered) <= config_maps


def config_map_references(rendered: list[Manifest]) -> set[str]:
    """The names of the ConfigMaps the containers of ``rendered`` read."""
    names: set[str] = set()
    for template in (t for m in rendered for t in pod_templates(m)):
        for container in template["spec"]["containers"]:
            names |= {source["configMapRef"]["name"] for source in container.get("envFrom", [])}
            refs = (v.get("valueFrom", {}).get("configMapKeyRef") for v in container.get("env", []))
            names |= {ref["name"] for ref in refs if ref}
    return names


def test_every_manifest_is_applied_by_a_kustomization() -> None:
    """No manifest is orphaned: each file is a resource of some kustomization (the example Secret aside)."""
    used: set[Path] = set()
    for directory in kustomizations():
        render(directory, used)
    expected = {path for path in manifest_files() if path.name not in NOT_APPLIED}
    assert {rel(path) for path in expected - used} == set()
    assert all((DEPLOY / name).is_file() for name in NOT_APPLIED)


def test_the_scaled_object_scales_the_deployment_it_ships_with() -> None:
    """The ScaledObject names the worker Deployment, which its overlay applies without a replica count."""
    rendered = render(DEPLOY / "autoscaling")
    (scaler,) = [m for m in rendered if m["kind"] == "ScaledObject"]
    target = scaler["spec"]["scaleTargetRef"]
    assert (target.get("apiVersion", "apps/v1"), target.get("kind", "Deployment")) == (
        "apps/v1",
        "Deployment",
    )
    assert target["name"] == deployment()["metadata"]["name"]
    (scaled,) = [m for m in rendered if m["kind"] == "Deployment" and m["metadata"]["name"] == target["name"]]
    assert "replicas" not in scaled["spec"], "KEDA owns the count; apply would reset it"
    assert "replicas" in deployment()["spec"], "the plain Deployment keeps its fixed size"


def test_the_burst_overlay_runs_jobs_in_place_of_the_deployment() -> None:
    """The burst overlay applies the ScaledJob, the exporter and the ConfigMap, and no worker Deployment."""
    kinds = {(m["kind"], m["metadata"]["name"]) for m in render(DEPLOY / "burst")}
    assert ("ScaledJob", "neops-worker-burst") in kinds
    assert ("ConfigMap", "neops-worker") in kinds
    assert ("Deployment", "neops-worker-backlog") in kinds
    assert ("Deployment", "neops-worker") not in kinds
    worker = scaled_job_worker()
    assert worker.get("args", ["run"])[0] == "run"
    assert int(env_values(worker)["MAX_JOBS"]) > 0, "burst mode: a pod ends after so many jobs"
    assert float(env_values(worker)["EXIT_WHEN_IDLE"]) > 0, "burst mode: a pod ends when idle"
    restart = scaled_job()["spec"]["jobTargetRef"]["template"]["spec"]["restartPolicy"]
    assert restart == "Never", "podFailurePolicy requires it"


# --- pods ------------------------------------------------------------------------------------------


def pod_templates(manifest: Manifest) -> list[Manifest]:
    """The pod templates a manifest holds."""
    if manifest["kind"] in {"Deployment", "StatefulSet", "DaemonSet", "Job"}:
        return [manifest["spec"]["template"]]
    if manifest["kind"] == "ScaledJob":
        return [manifest["spec"]["jobTargetRef"]["template"]]
    return []


def container(template: Manifest, name: str) -> Manifest:
    """The container called ``name`` of a pod template."""
    found: list[Manifest] = [c for c in template["spec"]["containers"] if c["name"] == name]
    assert len(found) == 1, name
    return found[0]


def scaled_job_worker() -> Manifest:
    """The worker container of the ScaledJob's pods."""
    return container(scaled_job()["spec"]["jobTargetRef"]["template"], "worker")


def env_values(worker: Manifest) -> dict[str, str]:
    """A container's environment: its ConfigMaps' data (from this directory tree), then its own values."""
    every = [m for path in manifest_files() for m in documents(path)]
    config_maps = {m["metadata"]["name"]: m for m in every if m["kind"] == "ConfigMap"}
    values: dict[str, str] = {}
    for source in worker.get("envFrom", []):
        values |= config_maps[source["configMapRef"]["name"]]["data"]
    values |= {var["name"]: var["value"] for var in worker.get("env", []) if "value" in var}
    return values


def worker_pods() -> list[tuple[Path, Manifest, Manifest]]:
    """(file, pod template, worker container) of every pod that runs ``neops_worker run``."""
    found = []
    for path in manifest_files():
        for template in (t for m in documents(path) for t in pod_templates(m)):
            for worker in template["spec"]["containers"]:
                if worker.get("args", ["run"])[0] == "run":
                    found.append((path, template, worker))
    assert len(found) >= 2, "the Deployment and the ScaledJob at least"
    return found


def test_grace_periods_follow_shutdown_timeout() -> None:
    """Each worker pod gets SHUTDOWN_TIMEOUT + the margin before SIGKILL, within the cluster autoscaler's."""
    for path, template, worker in worker_pods():
        shutdown_timeout = int(env_values(worker).get("SHUTDOWN_TIMEOUT", DEFAULTS["SHUTDOWN_TIMEOUT"]))
        grace = template["spec"].get("terminationGracePeriodSeconds", 30)
        assert grace == shutdown_timeout + GRACE_MARGIN, f"{rel(path)}: {grace} s for {shutdown_timeout} s"
        assert grace <= AUTOSCALER_GRACE_LIMIT, rel(path)


def mebibytes(quantity: str) -> int:
    """A memory quantity written in Mi or Gi, in MiB."""
    number, unit = re.fullmatch(r"(\d+)(Mi|Gi)", quantity).groups()  # type: ignore[union-attr]
    return int(number) * (1024 if unit == "Gi" else 1)


def test_memory_follows_the_slots() -> None:
    """Each worker pod's memory is its file's "memory:" formula for the WORKER_SLOTS it runs."""
    for path, _, worker in worker_pods():
        formula = MEMORY_LINE.search(path.read_text())
        assert formula, f"{rel(path)}: no 'memory: request … per slot' line"
        base, per_slot, limit_base, limit_per_slot = (int(n) for n in formula.groups())
        slots = int(env_values(worker).get("WORKER_SLOTS", DEFAULTS["WORKER_SLOTS"]))
        resources = worker["resources"]
        assert mebibytes(resources["requests"]["memory"]) == base + per_slot * slots, rel(path)
        assert mebibytes(resources["limits"]["memory"]) == limit_base + limit_per_slot * slots, rel(path)


def test_every_pod_is_hardened() -> None:
    """Every pod, exporter included: non-root, RuntimeDefault seccomp, no SA token, read-only, no caps."""
    templates = [(p, t) for p in manifest_files() for m in documents(p) for t in pod_templates(m)]
    assert len(templates) >= 3
    for path, template in templates:
        spec = template["spec"]
        assert spec["automountServiceAccountToken"] is False, rel(path)
        assert spec["securityContext"]["runAsNonRoot"] is True, rel(path)
        assert spec["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}, rel(path)
        for each in spec["containers"]:
            context = each["securityContext"]
            assert context["allowPrivilegeEscalation"] is False, rel(path)
            assert context["readOnlyRootFilesystem"] is True, rel(path)
            assert context["capabilities"] == {"drop": ["ALL"]}, rel(path)


def test_the_service_selects_the_exporter_pods_only() -> None:
    """The Service selects the exporter's pods and no worker's, on the exporter's port and image."""
    (exporter,) = documents(DEPLOY / "backlog-exporter" / "deployment.yaml")
    template = exporter["spec"]["template"]
    selector = service()["spec"]["selector"]
    assert selector.items() <= template["metadata"]["labels"].items()
    for _, worker_template, _ in worker_pods():
        assert not selector.items() <= worker_template["metadata"]["labels"].items()
    ports = {port["name"]: port["containerPort"] for port in container(template, "backlog")["ports"]}
    (port,) = service()["spec"]["ports"]
    assert ports[port["targetPort"]] == port["port"] == 9465
    assert template["metadata"]["annotations"]["prometheus.io/port"] == "9465"
    assert container(template, "backlog")["args"][0] == "backlog"
    assert (
        container(template, "backlog")["image"]
        == container(deployment()["spec"]["template"], "worker")["image"]
    )


# --- triggers --------------------------------------------------------------------------------------


def triggers() -> list[Manifest]:
    """Every Prometheus trigger of every KEDA manifest."""
    found = [t for m in (scaled_object(), scaled_job()) for t in m["spec"]["triggers"]]
    assert {t["type"] for t in found} == {"prometheus"}
    return found


def metric_names(query: str) -> set[str]:
    """The metric names a PromQL expression reads (strings, label matchers and grouping lists left out)."""
    text = re.sub(r'"(?:[^"\\]|\\.)*"', '""', query)
    text = re.sub(r"\{[^}]*\}|\[[^\]]*\]", " ", text)
    text = re.sub(r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", " ", text)
    words = re.findall(r"\b[a-zA-Z_:][a-zA-Z0-9_:]*\b(?!\s*\()", text)
    return set(words) - {"or", "and", "unless", "bool", "offset", "group_left", "group_right"}


def test_metric_names_are_parsed_out_of_a_query() -> None:
    """The parser finds the metrics, not functions, keywords, labels or label values."""
    query = 'sum by (le) (rate(a_total{x="b c"}[5m])) / on() group_left c or d offset 5m > bool 1'
    assert metric_names(query) == {"a_total", "c", "d"}


def test_trigger_queries_read_known_metrics() -> None:
    """Each trigger's query reads series the worker or the backlog exporter exposes, and nothing else."""
    for trigger in triggers():
        names = metric_names(trigger["metadata"]["query"])
        assert names, trigger["name"]
        assert names <= KNOWN_METRICS, f"{trigger['name']}: {names - KNOWN_METRICS}"


def test_backlog_thresholds_count_in_slots() -> None:
    """A backlog trigger's threshold is the WORKER_SLOTS of the pods it starts: a pod per that many jobs."""
    scaled = [
        (scaled_object(), container(deployment()["spec"]["template"], "worker")),
        (scaled_job(), scaled_job_worker()),
    ]
    for scaler, worker in scaled:
        slots = float(env_values(worker).get("WORKER_SLOTS", DEFAULTS["WORKER_SLOTS"]))
        backlog = [
            t for t in scaler["spec"]["triggers"] if "neops_worker_backlog_jobs" in t["metadata"]["query"]
        ]
        assert len(backlog) == 1, scaler["kind"]
        assert float(backlog[0]["metadata"]["threshold"]) == slots, scaler["kind"]


def test_the_busy_slot_target_is_a_ratio_of_the_slots() -> None:
    """The busy-slots threshold is a share of a pod's WORKER_SLOTS, counted per pod (AverageValue)."""
    slots = float(env_values(container(deployment()["spec"]["template"], "worker"))["WORKER_SLOTS"])
    (busy,) = [t for t in scaled_object()["spec"]["triggers"] if t["name"] == "busy-slots"]
    assert busy["metricType"] == "AverageValue", "a Value target counts ready pods only"
    assert 0 < float(busy["metadata"]["threshold"]) / slots <= 1


#: Series as Prometheus would scrape them: the Deployment's pods, and pods the busy-slot ratio must
#: leave out (a burst Job's, a specialised deployment's).
POD, OTHER_POD = "neops-worker-7d9f8c6b5-x2x4q", "neops-worker-7d9f8c6b5-mz8kd"
FOREIGN_PODS = ("neops-worker-burst-x7k2p-q9z8w", "neops-worker-config-5d8f9c7b4-k2j4h")
BUSY_SERIES = {
    **{f'neops_worker_slots{{pod="{pod}"}}': "4x4" for pod in (POD, OTHER_POD, *FOREIGN_PODS)},
    f'neops_worker_slots_busy{{pod="{POD}"}}': "3x4",
    f'neops_worker_slots_busy{{pod="{OTHER_POD}"}}': "1x4",
    **{f'neops_worker_slots_busy{{pod="{pod}"}}': "4x4" for pod in FOREIGN_PODS},
}
BACKLOG_SERIES = {
    **{
        f'neops_worker_backlog_jobs{{function_block="{block}",state="{state}",instance="{instance}"}}': value
        for instance in ("exporter", "exporter-scraped-twice")
        for block, state, value in [
            ("a/x:1.0.0", "pending", "3x4"),
            ("b/y:1.0.0", "pending", "2x4"),
            ("a/x:1.0.0", "claimed", "7x4"),
        ]
    },
    'neops_worker_backlog_up{instance="exporter"}': "1x4",
}
#: For each trigger name: (series, expected values) cases; [] is "no value", which KEDA takes as an error.
QUERY_CASES: dict[str, list[tuple[dict[str, str], list[float]]]] = {
    "backlog": [
        (BACKLOG_SERIES, [5]),
        ({'neops_worker_backlog_up{instance="exporter"}': "1x4"}, [0]),
        ({'neops_worker_backlog_up{instance="exporter"}': "0x4"}, []),
        ({'neops_worker_engine_up{pod="neops-worker-7d9f8c6b5-x2x4q"}': "1x4"}, []),
    ],
    "busy-slots": [(BUSY_SERIES, [4]), ({}, [])],
}


def promtool_case(query: str, series: dict[str, str], expected: list[float]) -> Manifest:
    """One ``promtool test rules`` test group: ``query`` over ``series`` gives ``expected``."""
    samples = [{"labels": "{}", "value": value} for value in expected]
    return {
        "interval": "1m",
        "input_series": [{"series": name, "values": values} for name, values in series.items()],
        "promql_expr_test": [{"expr": query, "eval_time": "2m", "exp_samples": samples}],
    }


@pytest.mark.skipif(shutil.which("promtool") is None, reason="promtool missing: install Debian's prometheus")
def test_trigger_queries_compute_what_their_comments_say(tmp_path: Path) -> None:
    """Prometheus' own engine: pending jobs counted once, 0 when idle, no value when blind, own pods only."""
    groups = []
    for trigger in triggers():
        cases = QUERY_CASES[trigger["name"]]
        groups += [promtool_case(trigger["metadata"]["query"], *case) for case in cases]
    tests = tmp_path / "queries.test.yaml"
    tests.write_text(yaml.safe_dump({"rule_files": [], "evaluation_interval": "1m", "tests": groups}))
    run = subprocess.run(
        ["promtool", "test", "rules", str(tests)], check=False, capture_output=True, text=True, timeout=60
    )
    assert run.returncode == 0, run.stdout + run.stderr
