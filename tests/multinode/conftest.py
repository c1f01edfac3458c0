"""A multi-node Ray cluster on one machine (ray.cluster_utils.Cluster): a head with no tier, one node per tier."""

from __future__ import annotations

import contextlib

from maas.serving.ray_env import apply_ray_env

apply_ray_env()

import pytest  # noqa: E402
import ray  # noqa: E402
from ray import serve  # noqa: E402
from ray.cluster_utils import Cluster  # noqa: E402

from maas.settings import load_settings  # noqa: E402
from maas.tiers import load_topology  # noqa: E402


@pytest.fixture(scope="package")
def tier_cluster(models_dir):
    topology = load_topology(load_settings(None).topology_path)
    cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": 1, "include_dashboard": False})
    try:  # from here on the cluster's processes exist: whatever fails, they are shut down
        nodes = {}
        for name, spec in topology.tiers.items():
            nodes[name] = cluster.add_node(num_cpus=1, resources={spec.ray_resource: 10})
        cluster.wait_for_nodes()
        ray.init(address=cluster.address, namespace="serve", log_to_driver=False)
        yield topology, {name: node.node_id for name, node in nodes.items()}
    finally:
        # Handles created on the test's (closed) asyncio loop cannot close themselves; the cluster goes next anyway.
        with contextlib.suppress(RuntimeError):
            serve.shutdown()
        ray.shutdown()
        cluster.shutdown()
