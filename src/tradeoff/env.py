"""Describe where a number was measured: hardware, drivers, library versions, git commit."""

from __future__ import annotations

import os
import platform
import subprocess
from functools import lru_cache
from importlib import metadata
from pathlib import Path

from .config import REPO_ROOT

_LIBRARIES = ("torch", "transformers", "datasets", "evaluate", "accelerate", "tokenizers",
              "nvidia-ml-py", "rouge_score", "papermill", "jupyter-book")


def _version(package: str) -> str:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return "not installed"


def git_commit() -> str:
    """The checkout's commit, with ``+dirty`` when the working tree has changes."""
    try:
        run = lambda *a: subprocess.run(["git", *a], cwd=REPO_ROOT, capture_output=True,
                                        text=True, timeout=5, check=True).stdout.strip()
        commit = run("rev-parse", "--short=12", "HEAD")
        return commit + ("+dirty" if run("status", "--porcelain", "--untracked-files=no") else "")
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


@lru_cache(maxsize=1)
def describe_cpu() -> dict:
    """The CPU side of :func:`describe_environment`, without importing torch.

    For numbers measured on the CPU alone (the ceilings' CPU time): host, platform, Python,
    CPU model and cores, the git commit; ``gpu_count`` 0.
    """
    return {
        "hostname": platform.node(),
        "platform": platform.platform(),
        "python": platform.python_version(),
        "cpu": _cpu_model(),
        "cpu_cores": os.cpu_count(),
        "gpu": "none",
        "gpu_count": 0,
        "git_commit": git_commit(),
    }


@lru_cache(maxsize=1)
def describe_environment() -> dict:
    """Hardware and software facts stored in every run record.

    Returns:
        A flat dict: CPU model and cores, GPU names and driver (when torch sees CUDA), Python
        and library versions, the git commit.
    """
    import torch

    env = describe_cpu() | {"cuda": torch.version.cuda or "none"}
    if torch.cuda.is_available():
        env["gpu_count"] = torch.cuda.device_count()
        env["gpu"] = torch.cuda.get_device_name(0)
        env["gpu_memory_gib"] = round(torch.cuda.get_device_properties(0).total_memory / 2**30, 1)
    env |= {f"version_{name}": _version(name) for name in _LIBRARIES}
    return env
