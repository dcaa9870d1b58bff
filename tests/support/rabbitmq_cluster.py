"""A three-node RabbitMQ cluster of the test's own on 127.0.0.1, beside the shared broker.

Each node has its own name (`i24c<hex>n<i>@localhost`), AMQP and distribution ports, data and
log directories (owned by the `rabbitmq` user, under one temporary directory), its own
`RABBITMQ_CONFIG_FILE`, `RABBITMQ_CONF_ENV_FILE` and enabled-plugins file, and a HOME whose
Erlang cookie is the cluster's own. The shared broker (rabbit@localhost on 5672, /etc/rabbitmq,
/var/lib/rabbitmq's cookie) is never read, touched or stopped: with another cookie neither side
can even talk to the other; the only shared piece is epmd, where the nodes register their names.
Nodes are started with `runuser -u rabbitmq` and stopped (or killed with SIGKILL) by the pid
each writes to its own pid file; nothing is looked up or ended by name.
"""

from __future__ import annotations

import asyncio
import os
import pwd
import secrets
import shutil
import signal
import socket
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

BIN = Path("/usr/lib/rabbitmq/bin")
START_TIMEOUT_S = 240.0


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class Node:
    name: str
    port: int
    dist_port: int
    base: Path
    process: asyncio.subprocess.Process | None = None

    @property
    def pid_file(self) -> Path:
        return self.base / "beam.pid"

    def pid(self) -> int | None:
        try:
            return int(self.pid_file.read_text().strip())
        except (OSError, ValueError):
            return None


@dataclass
class Cluster:
    root: Path
    prefix: str
    nodes: list[Node] = field(default_factory=list)

    @classmethod
    def create(cls, size: int = 3) -> Cluster:
        root = Path(tempfile.mkdtemp(prefix="i24-rabbitmq-cluster-"))
        os.chmod(root, 0o755)
        cluster = cls(root=root, prefix=f"i24c{secrets.token_hex(3)}")
        for index in range(1, size + 1):
            node = Node(f"{cluster.prefix}n{index}@localhost", free_port(), free_port(), root / f"n{index}")
            cluster.nodes.append(node)
        home = root / "home"
        home.mkdir()
        (home / ".erlang.cookie").write_text(secrets.token_hex(20).upper())
        os.chmod(home / ".erlang.cookie", 0o400)
        for node in cluster.nodes:
            cluster._write_node_files(node)
        _chown_tree(root, "rabbitmq")
        return cluster

    @property
    def hosts(self) -> list[str]:
        return [f"127.0.0.1:{node.port}" for node in self.nodes]

    def node_on(self, port: int) -> Node:
        return next(node for node in self.nodes if node.port == port)

    def _write_node_files(self, node: Node) -> None:
        (node.base / "mnesia").mkdir(parents=True)
        (node.base / "log").mkdir()
        peers = "\n".join(f"cluster_formation.classic_config.nodes.{i} = {peer.name}"
                          for i, peer in enumerate(self.nodes, 1))
        (node.base / "rabbitmq.conf").write_text(
            f"listeners.tcp.local = 127.0.0.1:{node.port}\n"
            "loopback_users = none\n"
            "cluster_formation.peer_discovery_backend = classic_config\n"
            f"{peers}\n"
            "log.file.level = info\n")
        (node.base / "enabled_plugins").write_text("[].\n")
        (node.base / "rabbitmq-env.conf").write_text("")  # not /etc/rabbitmq's (it names the shared node)

    def environment(self, node: Node) -> dict[str, str]:
        erl_args = "-kernel inet_dist_use_interface {127,0,0,1}"
        return {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(self.root / "home"),
            "LANG": "C.UTF-8", "LC_ALL": "C.UTF-8",
            "RABBITMQ_NODENAME": node.name, "RABBITMQ_NODE_IP_ADDRESS": "127.0.0.1",
            "RABBITMQ_NODE_PORT": str(node.port), "RABBITMQ_DIST_PORT": str(node.dist_port),
            "RABBITMQ_CONFIG_FILE": str(node.base / "rabbitmq.conf"),
            "RABBITMQ_CONF_ENV_FILE": str(node.base / "rabbitmq-env.conf"),
            "RABBITMQ_ENABLED_PLUGINS_FILE": str(node.base / "enabled_plugins"),
            "RABBITMQ_MNESIA_BASE": str(node.base / "mnesia"), "RABBITMQ_LOG_BASE": str(node.base / "log"),
            "RABBITMQ_PID_FILE": str(node.pid_file), "ERL_EPMD_ADDRESS": "127.0.0.1",
            "RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS": erl_args, "RABBITMQ_CTL_ERL_ARGS": erl_args,
        }

    async def start(self, node: Node) -> None:
        node.process = await asyncio.create_subprocess_exec(
            "runuser", "-u", "rabbitmq", "--", "env", "-i",
            *(f"{key}={value}" for key, value in self.environment(node).items()),
            str(BIN / "rabbitmq-server"),
            stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL, start_new_session=True)

    async def wait_until_up(self, node: Node, timeout: float = START_TIMEOUT_S) -> None:
        # await_startup fails at once while the VM has not registered its name with epmd yet.
        deadline = asyncio.get_running_loop().time() + timeout
        while True:
            code, output = await self.ctl(node, "await_startup", "--timeout", "60", timeout=90)
            if code == 0:
                return
            if asyncio.get_running_loop().time() > deadline or (node.process and node.process.returncode):
                raise RuntimeError(f"{node.name} did not start: {output[-2000:]}")
            await asyncio.sleep(1.0)

    async def start_all(self) -> None:
        for node in self.nodes:
            await self.start(node)
        await asyncio.gather(*(self.wait_until_up(node) for node in self.nodes))
        code, output = await self.ctl(self.nodes[0], "cluster_status")
        missing = [node.name for node in self.nodes if node.name not in output]
        if code != 0 or missing:
            raise RuntimeError(f"cluster incomplete (missing {missing}): {output[-2000:]}")

    async def ctl(self, node: Node, *args: str, timeout: float = 120.0) -> tuple[int, str]:
        env = self.environment(node)
        proc = await asyncio.create_subprocess_exec(
            "runuser", "-u", "rabbitmq", "--", "env", "-i", *(f"{k}={v}" for k, v in env.items()),
            str(BIN / "rabbitmqctl"), "-n", node.name, *args,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT)
        try:
            async with asyncio.timeout(timeout):
                output, _ = await proc.communicate()
        except TimeoutError:
            proc.kill()
            await proc.wait()
            return 124, f"rabbitmqctl {' '.join(args)} timed out"
        return proc.returncode or 0, output.decode(errors="replace")

    def kill_9(self, node: Node) -> int:
        """SIGKILL the node's own Erlang VM (by the pid in its own pid file)."""
        pid = node.pid()
        if pid is None:
            raise RuntimeError(f"{node.name} has no pid file")
        os.kill(pid, signal.SIGKILL)
        node.pid_file.unlink(missing_ok=True)
        return pid

    async def stop_all(self) -> None:
        for node in self.nodes:
            pid = node.pid()
            if pid is not None:
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
            if node.process is not None and node.process.returncode is None:
                try:
                    async with asyncio.timeout(30):
                        await node.process.wait()
                except TimeoutError:
                    pass
        shutil.rmtree(self.root, ignore_errors=True)


def _chown_tree(root: Path, user: str) -> None:
    entry = pwd.getpwnam(user)
    for directory, dirs, files in os.walk(root):
        os.chown(directory, entry.pw_uid, entry.pw_gid)
        for name in files:
            os.chown(os.path.join(directory, name), entry.pw_uid, entry.pw_gid)
