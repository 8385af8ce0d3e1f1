"""Servers a test run starts for itself: a Redis on a free port, so that no run flushes another's; the platform
itself (`crm serve`) on a free port with a database of its own."""
from __future__ import annotations

import http.client
import json
import os
import shutil
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import redis as redis_lib

from tests.providers import free_port


class RedisServer:
    """A ``redis-server`` of our own on a free port, without persistence; may be stopped and started again."""

    def __init__(self, directory):
        self.binary = shutil.which("redis-server")
        if self.binary is None:
            raise RuntimeError("redis-server is not installed (.ci/run installs it)")
        self.directory = str(directory)
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.process: subprocess.Popen | None = None

    def start(self) -> RedisServer:
        self.process = subprocess.Popen(
            [self.binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
             "--dir", self.directory],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 10
        while not self.pings():
            if self.process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"redis-server did not start on port {self.port}")
            time.sleep(0.05)
        return self

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(10)

    def pings(self) -> bool:
        try:
            return bool(redis_lib.Redis.from_url(self.url, socket_connect_timeout=0.2).ping())
        except redis_lib.exceptions.ConnectionError:
            return False


class CrmServer:
    """``crm serve`` in a process of its own, as an operator starts it: its own SQLite database (migrated
    with ``crm db upgrade``) and the embedded Redis stand-in, on a free port; its output goes to ``server.log``."""

    def __init__(self, directory, **config):
        self.crm = str(Path(sys.executable).with_name("crm"))
        self.directory = Path(directory)
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.env = {key: value for key, value in os.environ.items()
                    if not key.startswith("CRM_") or key == "CRM_CLOCK_SHIFT"}
        self.env.update({"CRM_INSTANCE_PATH": str(self.directory / "instance"),
                         "CRM_DATABASE_URL": f"sqlite:///{self.directory / 'crm.sqlite'}",
                         # Tests sign in and post faster than anyone would: limits only where a test asks.
                         "CRM_RATE_LIMITS_ENABLED": "false",
                         **{f"CRM_{key}": str(value) for key, value in config.items()}})
        self.log_path = self.directory / "server.log"
        self.process: subprocess.Popen | None = None

    def command(self, *args: str, stdin: str | None = None) -> str:
        """Run a ``crm`` command against this server's database (``stdin`` its input); returns its standard output."""
        result = subprocess.run([self.crm, *args], env=self.env, input=stdin, capture_output=True, text=True,
                                timeout=120)
        if result.returncode != 0:
            raise RuntimeError(f"crm {' '.join(args)} failed: {result.stderr[-2000:]}")
        return result.stdout

    def graphql(self, token: str, query: str, variables: dict | None = None) -> dict:
        """The data of one GraphQL request to this server as ``token``; fails the test on any top-level error."""
        request = urllib.request.Request(f"{self.url}/graphql", method="POST",
                                         data=json.dumps({"query": query, "variables": variables or {}}).encode(),
                                         headers={"Content-Type": "application/json",
                                                  "Authorization": f"Bearer {token}"})
        with urllib.request.urlopen(request, timeout=30) as response:
            body = json.loads(response.read())
        assert "errors" not in body, body
        return body["data"]

    def token(self, role: str = "ADMIN", label: str = "tests") -> str:
        return self.command("tokens", "create", "--role", role, "--label", label).strip().splitlines()[-1]

    def start(self) -> CrmServer:
        self.command("db", "upgrade")
        with open(self.log_path, "w") as log:  # the child writes to its own copy of the descriptor
            self.process = subprocess.Popen([self.crm, "serve", "--port", str(self.port)], env=self.env,
                                            stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        deadline = time.monotonic() + 60
        while not self.healthy():
            if self.process.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"crm serve did not start on port {self.port}: {self.log_path.read_text()[-2000:]}")
            time.sleep(0.1)
        return self

    def healthy(self) -> bool:
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=2)
        try:
            connection.request("GET", "/healthz")
            return connection.getresponse().status == 200
        except OSError:
            return False
        finally:
            connection.close()

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(10)
