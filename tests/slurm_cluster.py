"""A one-node SLURM cluster on this machine, for the tests and for trying the executor by hand.

As root on Debian, :meth:`Cluster.start` installs ``slurm-wlm`` and ``munge`` where they are
missing (and ``slurmdbd`` with ``mariadb-server`` for a cluster with accounting), writes a
one-node ``slurm.conf`` into its own folder, starts ``munged``, ``slurmctld`` and ``slurmd`` (and
``mariadbd`` and ``slurmdbd``) and waits until ``sinfo`` shows the node idle; :meth:`Cluster.stop`
cancels its jobs and stops, by pid, every daemon it started. Everything the cluster writes (keys,
sockets, state, logs, the database) lives in that folder, on free ports, so it neither reads nor
changes the machine's own SLURM or MUNGE set-up and two clusters can run side by side. SLURM's
commands find it through ``SLURM_CONF=<folder>/slurm.conf``.

The node is described as this machine is (its cores and memory); with ``gpus`` it also has that
many GRES GPUs backed by character devices (copies of ``/dev/null``), so that GPU requests are
accepted. Without it, the node is a CPU-only cluster, which refuses them.

From a shell (stdlib only, so the system ``python3`` runs it)::

    python3 tests/slurm_cluster.py start --dir .slurm [--accounting] [--gpus 2]
    export SLURM_CONF=$PWD/.slurm/slurm.conf
    python3 tests/slurm_cluster.py stop --dir .slurm
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

PACKAGES = ("slurm-wlm", "munge")  # slurmctld, slurmd, the client commands and munged
ACCOUNTING_PACKAGES = ("slurmdbd", "mariadb-server")
COMMANDS = ("munged", "slurmctld", "slurmd", "sbatch", "sinfo", "squeue", "scancel")
ACCOUNTING_COMMANDS = ("slurmdbd", "mariadbd", "mariadb-install-db", "mariadb", "sacctmgr")
NODE = "node0"
PARTITION = "debug"
# A daemon that is not up within this time has failed; its log says why.
START_TIMEOUT_S = 60.0


class ClusterUnavailable(RuntimeError):
    """This machine cannot run the cluster (not root, not Debian, packages not installable)."""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_until(predicate, what: str, log: Path | None = None,
                timeout_s: float = START_TIMEOUT_S) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.2)
    tail = "\n".join(log.read_text(errors="replace").splitlines()[-15:]) if log and log.exists() else ""
    raise RuntimeError(f"timed out after {timeout_s:.0f} s waiting for {what}\n{tail}")


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # A zombie child of ours counts as gone.
    try:
        status = Path(f"/proc/{pid}/stat").read_text().split(") ", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return status != "Z"


def ensure_packages(accounting: bool) -> None:
    """Install the Debian packages whose commands are missing.

    Raises:
        ClusterUnavailable: not root, no apt-get, or the installation failed.
    """
    wanted = COMMANDS + (ACCOUNTING_COMMANDS if accounting else ())
    missing = [c for c in wanted if shutil.which(c, path=_sbin_path()) is None]
    if not missing:
        return
    if os.geteuid() != 0:
        raise ClusterUnavailable(f"a one-node SLURM needs root (missing: {', '.join(missing)})")
    if shutil.which("apt-get") is None:
        raise ClusterUnavailable(f"no apt-get to install {', '.join(missing)} (Debian only)")
    packages = PACKAGES + (ACCOUNTING_PACKAGES if accounting else ())
    # policy-rc.d keeps the packages' own services stopped: this cluster starts its daemons itself.
    env = os.environ | {"DEBIAN_FRONTEND": "noninteractive", "RUNLEVEL": "1"}
    install = ["apt-get", "install", "-y", "-qq", "--no-install-recommends", *packages]
    done = subprocess.run(install, env=env, capture_output=True, text=True)
    if done.returncode != 0:  # an outdated package list: refresh it once
        subprocess.run(["apt-get", "update", "-qq"], env=env, capture_output=True)
        done = subprocess.run(install, env=env, capture_output=True, text=True)
    if done.returncode != 0:
        last = (done.stderr or done.stdout).strip().splitlines()[-1:] or ["no output"]
        raise ClusterUnavailable(f"apt-get could not install {' '.join(packages)}: {last[0]}")


def _sbin_path() -> str:
    return os.pathsep.join([os.environ.get("PATH", ""), "/usr/sbin", "/sbin"])


def _which(command: str) -> str:
    path = shutil.which(command, path=_sbin_path())
    if path is None:
        raise ClusterUnavailable(f"{command} not found")
    return path


@dataclass
class Cluster:
    """A one-node SLURM cluster whose files all live in ``folder``.

    Args:
        folder: its configuration, state, sockets and logs (created).
        accounting: run slurmdbd on a private MariaDB, so that ``sacct`` works.
        gpus: GRES GPUs of the node (0: a CPU-only cluster).
        cpus: the node's CPUs as SLURM counts them (default: this machine's cores).
    """

    folder: Path
    accounting: bool = False
    gpus: int = 0
    cpus: int | None = None

    def __post_init__(self) -> None:
        self.folder = Path(self.folder).resolve()

    @property
    def conf(self) -> Path:
        return self.folder / "slurm.conf"

    @property
    def env(self) -> dict[str, str]:
        """The environment in which SLURM's commands talk to this cluster."""
        return os.environ | {"SLURM_CONF": str(self.conf), "PATH": _sbin_path()}

    @property
    def _pids(self) -> Path:
        return self.folder / "pids.json"

    def run(self, *command: str, check: bool = True) -> subprocess.CompletedProcess:
        """Run a SLURM command against this cluster."""
        return subprocess.run(command, env=self.env, capture_output=True, text=True, check=check,
                              timeout=60)

    def start(self) -> Cluster:
        """Install what is missing, configure and start the daemons, wait for an idle node.

        Raises:
            ClusterUnavailable: this machine cannot run it (see :func:`ensure_packages`).
            RuntimeError: a daemon did not come up (with the end of its log).
        """
        if os.geteuid() != 0:
            raise ClusterUnavailable("a one-node SLURM needs root (its daemons run as root)")
        ensure_packages(self.accounting)
        self.folder.mkdir(parents=True, exist_ok=True)
        os.chmod(self.folder, 0o700)  # munged refuses a key or socket in a folder others can write
        try:
            self._start_munge()
            if self.accounting:
                self._start_database()
            self._write_conf()
            if self.accounting:
                self._start_slurmdbd()
            self._spawn("slurmctld", [_which("slurmctld"), "-D", "-f", str(self.conf)],
                        self.folder / "slurmctld.log")
            _wait_until(lambda: self.run("sinfo", check=False).returncode == 0, "slurmctld",
                        self.folder / "slurmctld.log")
            self._spawn("slurmd", [_which("slurmd"), "-D", "-N", NODE, "-f", str(self.conf)],
                        self.folder / "slurmd.log")
            _wait_until(self.idle, f"node {NODE} to be idle", self.folder / "slurmd.log")
        except BaseException:
            self.stop()
            raise
        return self

    def idle(self) -> bool:
        """Whether the node is up and runs nothing."""
        done = self.run("sinfo", "-h", "-n", NODE, "-o", "%t", check=False)
        return done.returncode == 0 and done.stdout.strip() == "idle"

    def stop(self) -> None:
        """Cancel every job of the cluster, then stop the daemons it started, newest first."""
        pids = self._started()
        if "slurmctld" in pids and _alive(pids["slurmctld"]):
            # slurmd leaves its job steps running when it stops: end the jobs first.
            self.run("scancel", "--full", "--user", "root", check=False)
            try:
                _wait_until(lambda: not self._steps(), "the jobs to end", timeout_s=30)
            except RuntimeError:
                pass
        for name, pid in reversed(list(pids.items())):
            self._terminate(pid)
        self._kill_stray_steps()
        self._pids.unlink(missing_ok=True)

    # --- daemons ---------------------------------------------------------------------------

    def _started(self) -> dict[str, int]:
        return json.loads(self._pids.read_text()) if self._pids.exists() else {}

    def _remember(self, name: str, pid: int) -> None:
        pids = self._started() | {name: pid}
        self._pids.write_text(json.dumps(pids))

    def _spawn(self, name: str, command: list[str], log: Path) -> int:
        """Start a daemon in the foreground mode (its pid is ours to stop), logging to ``log``."""
        with log.open("ab") as out:
            proc = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT,
                                    stdin=subprocess.DEVNULL, env=self.env,
                                    start_new_session=True)
        self._remember(name, proc.pid)
        time.sleep(0.1)
        if proc.poll() is not None:
            tail = "\n".join(log.read_text(errors="replace").splitlines()[-10:])
            raise RuntimeError(f"{name} exited at start ({proc.returncode}):\n{tail}")
        return proc.pid

    def _terminate(self, pid: int) -> None:
        if not _alive(pid):
            return
        try:
            os.kill(pid, signal.SIGTERM)
            _wait_until(lambda: not _alive(pid), f"pid {pid} to stop", timeout_s=15)
        except RuntimeError:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        try:  # reap our own child, so that it leaves no zombie
            os.waitpid(pid, os.WNOHANG)
        except ChildProcessError:
            pass

    def _steps(self) -> list[int]:
        """The slurmstepd processes of this cluster (their command line names its spool)."""
        spool = str(self.folder / "slurmd")
        found = []
        for proc in Path("/proc").iterdir():
            if not proc.name.isdigit():
                continue
            try:
                cmdline = (proc / "cmdline").read_bytes().decode(errors="replace")
                environ = (proc / "environ").read_bytes().decode(errors="replace")
            except OSError:
                continue
            if "slurmstepd" in cmdline and (spool in environ or str(self.conf) in environ):
                found.append(int(proc.name))
        return found

    def _kill_stray_steps(self) -> None:
        for pid in self._steps():
            try:
                os.killpg(os.getpgid(pid), signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass

    def _start_munge(self) -> None:
        key = self.folder / "munge.key"
        if not key.exists():
            key.write_bytes(os.urandom(1024))
        os.chmod(key, 0o400)
        socket_path = self.folder / "munge.socket"
        self._spawn("munged", [_which("munged"), "--foreground", "--force",
                               f"--key-file={key}", f"--socket={socket_path}",
                               f"--pid-file={self.folder / 'munged.pid'}",
                               f"--seed-file={self.folder / 'munged.seed'}",
                               f"--log-file={self.folder / 'munged.log'}"],
                    self.folder / "munged.out")
        _wait_until(socket_path.exists, "munged's socket", self.folder / "munged.log")

    def _start_database(self) -> None:
        data = self.folder / "mysql"
        self._db_port = _free_port()
        if not data.exists():
            done = subprocess.run([_which("mariadb-install-db"), f"--datadir={data}",
                                   "--user=root", "--skip-test-db",
                                   "--auth-root-authentication-method=socket"],
                                  capture_output=True, text=True)
            if done.returncode != 0:
                raise RuntimeError(f"mariadb-install-db failed: {done.stderr.strip()[-500:]}")
        sock = self.folder / "mysql.sock"
        self._spawn("mariadbd", [_which("mariadbd"), "--no-defaults", f"--datadir={data}",
                                 f"--socket={sock}", f"--port={self._db_port}",
                                 "--bind-address=127.0.0.1", "--user=root",
                                 f"--pid-file={self.folder / 'mariadbd.pid'}",
                                 "--innodb-buffer-pool-size=16M", "--skip-name-resolve"],
                    self.folder / "mariadbd.log")
        client = [_which("mariadb"), "--no-defaults", f"--socket={sock}", "-u", "root"]
        _wait_until(lambda: subprocess.run(client + ["-e", "SELECT 1"],
                                           capture_output=True).returncode == 0,
                    "mariadbd", self.folder / "mariadbd.log")
        subprocess.run(client + ["-e", "CREATE USER IF NOT EXISTS 'slurm'@'127.0.0.1'; "
                                       "GRANT ALL ON *.* TO 'slurm'@'127.0.0.1';"],
                       check=True, capture_output=True)

    def _start_slurmdbd(self) -> None:
        conf = self.folder / "slurmdbd.conf"
        conf.write_text("\n".join([
            "AuthType=auth/munge", f"AuthInfo=socket={self.folder / 'munge.socket'}",
            "DbdHost=localhost", f"DbdPort={self._dbd_port}", "SlurmUser=root",
            f"LogFile={self.folder / 'slurmdbd.log'}", f"PidFile={self.folder / 'slurmdbd.pid'}",
            "StorageType=accounting_storage/mysql", "StorageHost=127.0.0.1",
            f"StoragePort={self._db_port}", "StorageUser=slurm", "StorageLoc=slurm_acct_db",
            ""]))
        os.chmod(conf, 0o600)  # slurmdbd refuses a configuration others can read
        self._spawn("slurmdbd", [_which("slurmdbd"), "-D"], self.folder / "slurmdbd.out")
        env = self.env | {"SLURM_CONF": str(self.conf)}
        _wait_until(lambda: subprocess.run(["sacctmgr", "-n", "show", "cluster"], env=env,
                                           capture_output=True).returncode == 0,
                    "slurmdbd", self.folder / "slurmdbd.log")
        subprocess.run(["sacctmgr", "-i", "add", "cluster", self.name], env=env,
                       capture_output=True)

    @property
    def name(self) -> str:
        return "tradeoff"

    def _write_conf(self) -> None:
        """slurm.conf (and gres.conf): one node as this machine is, on free ports."""
        cpus, memory_mb = self.cpus or os.cpu_count() or 1, _memory_mb()
        host = socket.gethostname().split(".")[0]
        (self.folder / "state").mkdir(exist_ok=True)
        (self.folder / "slurmd").mkdir(exist_ok=True)
        self._dbd_port = _free_port()
        gres = ""
        if self.gpus:
            devices = self.folder / "dev"
            devices.mkdir(exist_ok=True)
            for i in range(self.gpus):  # a GRES file must be a device: copies of /dev/null
                path = devices / f"gpu{i}"
                if not path.exists():
                    os.mknod(path, 0o666 | 0o020000, os.makedev(1, 3))
            (self.folder / "gres.conf").write_text(
                f"NodeName={NODE} Name=gpu File={devices}/gpu[0-{self.gpus - 1}]\n")
            gres = f" Gres=gpu:{self.gpus}"
        accounting = (["AccountingStorageType=accounting_storage/slurmdbd",
                       "AccountingStorageHost=localhost",
                       f"AccountingStoragePort={self._dbd_port}",
                       # slurmdbd's connections take their MUNGE socket from here, not AuthInfo.
                       f"AccountingStoragePass={self.folder / 'munge.socket'}"] if self.accounting
                      else ["AccountingStorageType=accounting_storage/none"])
        self.conf.write_text("\n".join([
            f"ClusterName={self.name}", f"SlurmctldHost={host}(127.0.0.1)",
            f"SlurmctldPort={_free_port()}", f"SlurmdPort={_free_port()}",
            "AuthType=auth/munge", "CredType=cred/munge",
            f"AuthInfo=socket={self.folder / 'munge.socket'}",
            "SlurmUser=root", "SlurmdUser=root",
            f"StateSaveLocation={self.folder / 'state'}", f"SlurmdSpoolDir={self.folder / 'slurmd'}",
            f"SlurmctldPidFile={self.folder / 'slurmctld.pid'}",
            f"SlurmdPidFile={self.folder / 'slurmd.pid'}",
            f"SlurmctldLogFile={self.folder / 'slurmctld.log'}",
            f"SlurmdLogFile={self.folder / 'slurmd.log'}",
            # No cgroups: the tests run where cgroup v2 delegation may be missing.
            "ProctrackType=proctrack/linuxproc", "TaskPlugin=task/none",
            "SelectType=select/cons_tres", "SelectTypeParameters=CR_Core_Memory",
            "SchedulerType=sched/backfill", "MpiDefault=none", "ReturnToService=2",
            "JobAcctGatherType=jobacct_gather/none", *accounting,
            # A cancelled or timed-out job ends within seconds, not the default half minute.
            "KillWait=5", "InactiveLimit=0", "SlurmdTimeout=60",
            # The node as configured, even where slurmd counts this machine otherwise.
            "SlurmdParameters=config_overrides",
            *(["GresTypes=gpu"] if self.gpus else []),
            f"NodeName={NODE} NodeHostname={host} NodeAddr=127.0.0.1 CPUs={cpus} "
            f"RealMemory={memory_mb}{gres} State=UNKNOWN",
            f"PartitionName={PARTITION} Nodes={NODE} Default=YES MaxTime=INFINITE State=UP",
            ""]))


def _memory_mb() -> int:
    """This machine's memory in MB, less a margin SLURM keeps for the system."""
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemTotal:"):
            return int(line.split()[1]) // 1024 - 512
    return 1024


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("action", choices=("start", "stop"))
    parser.add_argument("--dir", default=".slurm", help="the cluster's folder (default .slurm)")
    parser.add_argument("--accounting", action="store_true", help="with slurmdbd (sacct works)")
    parser.add_argument("--gpus", type=int, default=0, help="GRES GPUs of the node (default 0)")
    parser.add_argument("--cpus", type=int, help="the node's CPUs (default: this machine's)")
    args = parser.parse_args(argv)
    cluster = Cluster(Path(args.dir), accounting=args.accounting, gpus=args.gpus, cpus=args.cpus)
    if args.action == "stop":
        cluster.stop()
        print(f"stopped the cluster in {cluster.folder}")
        return 0
    try:
        cluster.start()
    except ClusterUnavailable as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    print(f"export SLURM_CONF={cluster.conf}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
