"""The Ray environment: two platforms on one host get their own HAProxy ports; explicit values win."""

from __future__ import annotations

from maas.serving.ray_env import HAPROXY_ENV, RAY_ENV, apply_ray_env


def test_two_platforms_get_their_own_haproxy_ports() -> None:
    one, two = apply_ray_env({}), apply_ray_env({})
    for key in HAPROXY_ENV:
        assert one[key] != two[key] and int(one[key]) > 0, key
    assert "RAY_SERVE_HAPROXY_SOCKET_PATH" not in one  # Ray's per-instance socket directory is left alone
    assert all(one[k] == v for k, v in RAY_ENV.items())


def test_what_is_set_already_wins_and_is_applied_once() -> None:
    env = apply_ray_env({"RAY_SERVE_HAPROXY_STATS_PORT": "9999", "RAY_AUTH_MODE": "token"})
    assert env["RAY_SERVE_HAPROXY_STATS_PORT"] == "9999" and env["RAY_AUTH_MODE"] == "token"
    again = apply_ray_env(dict(env))
    assert again == env  # a second call (the CLI, then serving) keeps the first platform's choice
