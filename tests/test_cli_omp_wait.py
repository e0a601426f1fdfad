"""The `axk1` command makes OpenMP's waiting threads sleep (OMP_WAIT_POLICY=PASSIVE) unless the user chose a policy:
libgomp's default spin at every barrier took the CPU the working thread needed on a busy machine."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _libgomp_settings(**env: str) -> str:
    """The wait settings libgomp took when `axk1 params` loaded torch (OMP_DISPLAY_ENV prints them as it starts)."""
    base = {k: v for k, v in os.environ.items() if k not in ("OMP_WAIT_POLICY", "GOMP_SPINCOUNT")}
    proc = subprocess.run([sys.executable, "-m", "axk1", "params", "axk1-tiny"], capture_output=True, text=True,
                          timeout=120, cwd=ROOT, env={**base, "OMP_DISPLAY_ENV": "VERBOSE", **env})
    assert proc.returncode == 0, proc.stderr[-2000:]
    if "GOMP_SPINCOUNT" not in proc.stderr:
        pytest.skip("torch's OpenMP is not libgomp here")
    return proc.stderr


def test_the_command_sets_a_passive_wait_before_torch_loads_openmp():
    # libgomp reads the policy once, at load: spinning shows as GOMP_SPINCOUNT = '300000' (its default), passive as 0
    assert "GOMP_SPINCOUNT = '0'" in _libgomp_settings()


def test_a_policy_the_user_set_is_kept():
    assert "OMP_WAIT_POLICY = 'ACTIVE'" in _libgomp_settings(OMP_WAIT_POLICY="ACTIVE")
    assert "GOMP_SPINCOUNT = '1000'" in _libgomp_settings(GOMP_SPINCOUNT="1000")
