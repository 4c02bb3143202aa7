"""What the fault tests share: a private Redis to kill, a real worker subprocess to kill, and a
loop that plays beat while waiting."""

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from django.conf import settings
from django.db import connection

ROOT = Path(__file__).resolve().parents[2]
LEASE_SECONDS = 4


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class PrivateRedis:
    def __init__(self, tmp_path):
        binary = shutil.which("redis-server")
        if binary is None:
            pytest.fail("redis-server is needed (make test installs it).")
        self.binary, self.port, self.dir, self.process = binary, free_port(), tmp_path, None

    @property
    def url(self):
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self):
        self.process = subprocess.Popen(
            [
                self.binary,
                "--bind",
                "127.0.0.1",
                "--port",
                str(self.port),
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                str(self.dir),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.2).close()
                return
            except OSError:
                time.sleep(0.05)
        pytest.fail("private redis did not start")

    def kill(self):
        self.process.kill()
        self.process.wait()


class Worker:
    def __init__(self, broker_url, tmp_path, queue="escalations"):
        db = settings.DATABASES["default"]
        self.env = {
            **os.environ,
            "DATABASE_URL": f"postgres://{db['USER']}:{db['PASSWORD'] or ''}@{db['HOST']}:{db['PORT']}/{db['NAME']}"
            if "postgresql" in db["ENGINE"]
            else f"sqlite:///{db['NAME']}",
            "CELERY_BROKER_URL": broker_url,
            "DELIVERY_LEASE_SECONDS": str(LEASE_SECONDS),
            # The same VAR_DIR: in development the field-encryption key lives there.
            "VAR_DIR": str(settings.VAR_DIR),
            "LOG_LEVEL": "WARNING",
        }
        self.queue = queue
        self.process = None
        self.kills = 0
        self.log_path = tmp_path / "worker.log"

    def start(self):
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "celery",
                "-A",
                "partnerportal",
                "worker",
                "-Q",
                self.queue,
                "--concurrency",
                "2",
                "--loglevel",
                "WARNING",
                "--without-heartbeat",
                "--without-mingle",
                "--without-gossip",
            ],
            cwd=ROOT,
            env=self.env,
            start_new_session=True,  # its own process group, so SIGKILL reaches the pool too
            stdout=subprocess.DEVNULL,
            stderr=self.log_path.open("ab"),
        )

    def kill(self):
        os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait()
        self.kills += 1

    def terminate(self, timeout=60):
        """SIGTERM to the main process only, as ``docker stop`` does: a warm shutdown."""
        self.process.send_signal(signal.SIGTERM)
        self.process.wait(timeout=timeout)

    def stop(self):
        if self.process and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)


def wait_for(condition, timeout, sweep, sweep_every=1.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        sweep()  # what beat does every 15 s
        connection.close()
        time.sleep(sweep_every)
    return condition()
