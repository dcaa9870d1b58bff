"""deploy/kubernetes/: a StatefulSet whose pods are the shards, and the config they share."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from config_manager import ConfigManager

K8S = Path(__file__).resolve().parents[3] / "deploy" / "kubernetes"


@pytest.fixture(scope="module")
def manifests() -> dict[str, dict]:
    listed = yaml.safe_load((K8S / "kustomization.yaml").read_text())["resources"]
    documents = [yaml.safe_load((K8S / name).read_text()) for name in listed]
    return {document["kind"]: document for document in documents}


def cluster_config(manifests, tmp_path, pod: str):
    path = tmp_path / "cluster.yaml"
    path.write_text(manifests["ConfigMap"]["data"]["cluster.yaml"])
    return ConfigManager(path, environ={"HOSTNAME": pod}, env_file=tmp_path / ".env").load_config()


def test_kustomize_lists_a_statefulset_headless_service_configmap_and_disruption_budget(manifests):
    assert set(manifests) == {"StatefulSet", "Service", "ConfigMap", "PodDisruptionBudget"}
    assert manifests["Service"]["spec"]["clusterIP"] == "None"
    assert manifests["StatefulSet"]["spec"]["serviceName"] == manifests["Service"]["metadata"]["name"]


def test_the_configs_shard_count_equals_the_statefulsets_replicas(manifests, tmp_path):
    config = cluster_config(manifests, tmp_path, "crypto-collector-0")
    assert config.shard.count == manifests["StatefulSet"]["spec"]["replicas"]
    assert config.shard.index == "auto"


def test_every_pod_is_the_shard_of_its_ordinal_on_the_same_port_prometheus_scrapes(manifests, tmp_path):
    statefulset = manifests["StatefulSet"]
    annotations = statefulset["spec"]["template"]["metadata"]["annotations"]
    for ordinal in range(statefulset["spec"]["replicas"]):
        config = cluster_config(manifests, tmp_path, f"{statefulset['metadata']['name']}-{ordinal}")
        assert config.shard.number == ordinal
        assert config.health.port == int(annotations["prometheus.io/port"])
        assert config.health.host == "0.0.0.0"
    assert annotations["prometheus.io/scrape"] == "true" and annotations["prometheus.io/path"] == "/metrics"


def test_the_pods_read_the_configmap_and_keep_the_journal_on_their_own_volume(manifests, tmp_path):
    spec = manifests["StatefulSet"]["spec"]
    [container] = spec["template"]["spec"]["containers"]
    assert "--config=./config/cluster.yaml" in container["command"]
    mounts = {m["name"]: m["mountPath"] for m in container["volumeMounts"]}
    assert mounts["config"] == f"{container['workingDir']}/config/cluster.yaml"
    config = cluster_config(manifests, tmp_path, "crypto-collector-1")
    assert Path(config.batch_processing.spool_dir).is_relative_to(mounts["data"])
    assert [t["metadata"]["name"] for t in spec["volumeClaimTemplates"]] == ["data"]


def test_a_drain_takes_down_at_most_one_shard(manifests):
    budget = manifests["PodDisruptionBudget"]["spec"]
    assert budget["maxUnavailable"] == 1
    assert budget["selector"]["matchLabels"] == manifests["StatefulSet"]["spec"]["selector"]["matchLabels"]


def test_the_image_runs_as_the_pods_user_from_the_pods_working_directory(manifests):
    dockerfile = (K8S / "Dockerfile").read_text()
    pod = manifests["StatefulSet"]["spec"]["template"]["spec"]
    [container] = pod["containers"]
    assert f"WORKDIR {container['workingDir']}" in dockerfile
    assert f"USER {pod['securityContext']['runAsUser']}" in dockerfile
    assert container["image"] in dockerfile  # the build command names the tag the pods run


COMPOSE = K8S.parent / "compose"


def test_the_compose_fleet_has_one_service_per_shard_each_with_its_own_index_port_and_volume(tmp_path):
    compose = yaml.safe_load((COMPOSE / "docker-compose.yml").read_text())
    services = compose["services"]
    configs = [ConfigManager(COMPOSE / "cluster.yaml", env_file=tmp_path / ".env",
                             environ=service["environment"]).load_config() for service in services.values()]
    assert [c.shard.number for c in configs] == list(range(configs[0].shard.count)) == list(range(len(services)))
    assert len({service["ports"][0] for service in services.values()}) == len(services)
    assert all(f"{port}:{c.health.port}" in s["ports"][0] for port, c, s in
               zip(range(8080, 8080 + len(services)), configs, services.values()))
    volumes = [v for service in services.values() for v in service["volumes"] if v.endswith(":/data")]
    assert len(set(volumes)) == len(services)
