"""Ray Serve applications: gateway, tier deployments, cluster start/stop. The only package that imports ray.

Import submodules explicitly (``maas.serving.platform``) after ``maas.serving.ray_env.apply_ray_env()``.
"""
