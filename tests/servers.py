"""Servers a test run starts for itself: a Redis on a free port, so that no run flushes another's."""
from __future__ import annotations

import shutil
import subprocess
import time

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
