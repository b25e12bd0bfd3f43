"""SLURM, asked through its commands: the sbatch script of a job array, whether the cluster
would take it, and where submitted jobs stand.

Before anything is submitted, ``sbatch --test-only`` checks each job against the cluster
(:func:`check_with_scheduler`, also run by ``--dry-run`` where SLURM is installed): a refused
partition, GPU request, time limit or memory ends in one line that names the profile key
(``slurm_partition``, ``slurm_time_min``, ``slurm_mem_gb``, ``slurm_cpus_per_gpu``,
``slurm_setup`` and ``slurm_additional`` are outside the cell's hash). A cell on several
processes runs them as SLURM tasks on one node.

A job's state comes from ``sacct``, then from ``squeue`` where ``sacct`` has no answer (a
cluster without accounting): :func:`slurm_states`.
"""

from __future__ import annotations

import logging
import re
import shlex
import shutil
import subprocess
import sys
import tempfile

from ..config import Profile
from ..errors import ConfigError
from .jobs import jobs_folder, Resources

log = logging.getLogger(__name__)

# sacct states of a job still waiting, or running (https://slurm.schedmd.com/sacct.html).
QUEUED_STATES = {"PENDING", "REQUEUED", "REQUEUE_FED", "REQUEUE_HOLD", "RESIZING", "SUSPENDED",
                 "CONFIGURING"}
RUNNING_STATES = {"RUNNING", "COMPLETING", "STAGE_OUT", "SIGNALING"}
# sbatch's refusals (its error text, lower case) and the profile key that asked for it.
# The first match wins: a time or memory refusal may mention the partition's limit.
REFUSALS = (
    ("generic resource", "slurm_gpus (or qa_gpus_per_cell)", "GPU request (gres)"),
    ("gres", "slurm_gpus (or qa_gpus_per_cell)", "GPU request (gres)"),
    ("time limit", "slurm_time_min", "time limit"),
    ("memory", "slurm_mem_gb", "memory"),
    ("node configuration", "slurm_cpus_per_gpu or slurm_mem_gb", "CPUs or memory"),
    ("partition", "slurm_partition", "partition"),
)


def slurm_parameters(profile: Profile, resources: Resources) -> dict:
    """The SLURM resources of a job, as submitit's SlurmExecutor names them.

    One node, one task per process, which :func:`~tradeoff.executors.submit.run_cell_job` turns
    into torch distributed ranks; a GPU per task only where the job needs GPUs (a CPU-only
    cluster refuses any GPU request).
    """
    params = dict(job_name=f"tradeoff-{profile.name}", time=profile.slurm_time_min, nodes=1,
                  ntasks_per_node=resources.processes,
                  cpus_per_task=profile.slurm_cpus_per_gpu, mem=f"{profile.slurm_mem_gb}GB")
    if resources.gpus:
        params["gpus_per_node"] = resources.gpus
    if profile.slurm_partition:
        params["partition"] = profile.slurm_partition
    if profile.slurm_setup:
        params["setup"] = list(profile.slurm_setup)
    if profile.slurm_additional:
        params["additional_parameters"] = dict(profile.slurm_additional)
    return params


def slurm_script(profile: Profile, resources: Resources, array_size: int | None = None) -> str:
    """The sbatch script submitit writes for a job (or an array) of cells.

    Needs no SLURM installation (for ``--dry-run``); the executor writes the same text.
    """
    from submitit.slurm.slurm import _make_sbatch_string

    folder = jobs_folder(profile).resolve() / "%j"
    command = " ".join([shlex.quote(sys.executable), "-u -m submitit.core._submit",
                        shlex.quote(str(folder))])
    return _make_sbatch_string(command=command, folder=folder, map_count=array_size,
                               **slurm_parameters(profile, resources))


def refusal(profile: Profile, resources: Resources, stderr: str) -> ConfigError:
    """sbatch's refusal of a job as one line naming the setting and its profile key."""
    lines = [line.removeprefix("sbatch: error: ").strip() for line in stderr.splitlines()
             if line.strip()]
    said = next((line for line in reversed(lines) if "error" not in line.lower()[:6]),
                lines[-1] if lines else "no reason given")
    text = stderr.lower()
    for needle, key, what in REFUSALS:
        if needle in text:
            asked = {"slurm_partition": f"partition {profile.slurm_partition or '(default)'}",
                     "slurm_time_min": f"{profile.slurm_time_min} min",
                     "slurm_mem_gb": f"{profile.slurm_mem_gb} GB"}.get(key, resources.text)
            return ConfigError(f"SLURM refused the jobs' {what} ({asked}; profile key {key}): "
                               f"{said}")
    return ConfigError(f"SLURM refused the jobs ({resources.text}): {said} (profile keys "
                       f"slurm_*; further #SBATCH options come from slurm_additional)")


def check_with_scheduler(profile: Profile, groups: dict[Resources, int]) -> bool:
    """Ask SLURM whether it would accept each job array, without submitting (``sbatch
    --test-only``): the partition, GPU request, time limit and memory against the cluster.

    Args:
        profile: the validated profile.
        groups: the number of cells of each job array, by its resources.

    Returns:
        Whether SLURM was asked (False: no sbatch here, nothing could be checked).

    Raises:
        ConfigError: SLURM would refuse a job (one line naming the profile key).
    """
    # One line per partition and node kind: name (default marked *), CPUs, memory MB, GRES.
    nodes = _ask(["sinfo", "--noheader", "--format", "%P|%c|%m|%G"]) if shutil.which("sbatch") else None
    if nodes is None:  # no SLURM here, or no controller to ask
        return False
    rows = [line.split("|") for line in nodes.splitlines() if line.count("|") == 3]
    known = sorted({r[0].rstrip("*") for r in rows})
    wanted = profile.slurm_partition
    if wanted and wanted not in known:
        raise ConfigError(f"SLURM has no partition '{wanted}' (profile key slurm_partition); "
                          f"its partitions: {', '.join(known) or 'none'}")
    mine = [r for r in rows if (r[0].rstrip("*") == wanted if wanted else r[0].endswith("*"))]
    where = f"partition {wanted or '(default)'}"
    for resources in groups:
        # sbatch --test-only says "Requested node configuration is not available" for CPUs,
        # memory and GPUs alike: the nodes' sizes tell which setting asks too much.
        _check_fits(profile, resources, mine, where)
    for resources, count in groups.items():
        with tempfile.NamedTemporaryFile("w", suffix=".sh", prefix="tradeoff-test-only-") as f:
            f.write(slurm_script(profile, resources, count if count > 1 else None))
            f.flush()
            done = subprocess.run(["sbatch", "--test-only", f.name], capture_output=True,
                                  text=True, timeout=60)
        # sbatch --test-only answers on stderr in both cases; the exit status tells them apart.
        if done.returncode != 0:
            raise refusal(profile, resources, done.stderr or done.stdout)
    return True


def _check_fits(profile: Profile, resources: Resources, rows: list[list[str]], where: str) -> None:
    """Whether one node of the partition (sinfo's rows) holds a job; one line naming the key."""
    if not rows:
        return
    cpus = max(_number(r[1]) for r in rows)
    memory_gb = max(_number(r[2]) for r in rows) / 1024
    gpus = max(_gpu_count(r[3]) for r in rows)
    if resources.gpus > gpus:
        fix = ("set slurm_gpus: false for a CPU-only cluster" if gpus == 0
               else "lower qa_gpus_per_cell")
        raise ConfigError(f"SLURM's {where} has {gpus} GPU(s) a node and a job asks for "
                          f"{resources.gpus} (profile key slurm_gpus, qa_gpus_per_cell): {fix}")
    if resources.processes * profile.slurm_cpus_per_gpu > cpus:
        raise ConfigError(f"SLURM's {where} has {cpus} CPU(s) a node and a job asks for "
                          f"{resources.processes} x {profile.slurm_cpus_per_gpu} (profile key "
                          f"slurm_cpus_per_gpu)")
    if profile.slurm_mem_gb > memory_gb:
        raise ConfigError(f"SLURM's {where} has {memory_gb:.0f} GB a node and a job asks for "
                          f"{profile.slurm_mem_gb} GB (profile key slurm_mem_gb)")


def _number(text: str) -> int:
    match = re.match(r"\d+", text.strip())
    return int(match.group()) if match else 0


def _gpu_count(gres: str) -> int:
    """GPUs in sinfo's GRES column (``gpu:2``, ``gpu:a100:4(S:0-1)``, ``(null)``)."""
    return sum(int(m.group(1)) for m in re.finditer(r"gpu(?::[^:,(]+)?:(\d+)", gres))


def slurm_states(job_ids: list[str]) -> dict[str, str]:
    """SLURM's state of each job: sacct's where it answers, else squeue's.

    sacct fails on a cluster without accounting and may not know a job for a few seconds after
    its submission; squeue knows every job that is queued or running (and, for a few minutes,
    those that ended). A job that neither knows has left the queue: ``GONE``. Where squeue does
    not answer either (the controller is down), the state is ``UNKNOWN``.

    Args:
        job_ids: SLURM job ids as submitit names them (``12``, or ``13_0`` in an array).

    Returns:
        An upper-case state per job id (``PENDING``, ``RUNNING``, ``COMPLETED``, ``TIMEOUT``,
        ``CANCELLED``, ..., ``GONE`` or ``UNKNOWN``).
    """
    from submitit.slurm.slurm import SlurmInfoWatcher

    states: dict[str, str] = {}
    command = ["sacct", "-o", "JobID,State", "--parsable2"]
    for main_id in sorted({j.split("_")[0] for j in job_ids}):
        command += ["-j", main_id]
    sacct = _ask(command)
    if sacct is not None:  # one call for every job; submitit reads its arrays and ranges
        info = SlurmInfoWatcher().read_info(sacct)
        states = {j: info[j]["State"].split()[0].upper() for j in job_ids
                  if info.get(j, {}).get("State")}
    rest = [j for j in job_ids if j not in states]
    if rest:
        # --array: one line per array task; --states all: jobs that ended a moment ago too.
        queue = _ask(["squeue", "--me", "--noheader", "--array", "--states", "all",
                      "--format", "%i|%T"])
        listed = dict(line.strip().split("|", 1) for line in (queue or "").splitlines()
                      if "|" in line)
        for job_id in rest:
            states[job_id] = (listed.get(job_id, "GONE").upper() if queue is not None
                              else "UNKNOWN")
    return states


def _ask(command: list[str]) -> str | None:
    """A SLURM command's output, or None where it fails (no accounting, no controller)."""
    try:
        out = subprocess.check_output(command, stderr=subprocess.PIPE, timeout=60)
    except subprocess.CalledProcessError as err:
        log.info("%s: %s", command[0], (err.stderr or b"").decode(errors="replace").strip())
        return None
    except (OSError, subprocess.TimeoutExpired) as err:
        log.info("%s: %s", command[0], err)
        return None
    return out.decode(errors="replace") if isinstance(out, bytes) else out
