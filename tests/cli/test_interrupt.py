"""Ctrl-C in the middle of `assethost deploy`: the command ends within a second with exit code 130,
and the environment runs no new build. The uploads go through a slow TCP relay in this test, so
that the interrupt lands mid-upload every time."""

from __future__ import annotations

import signal
import socket
import subprocess
import sys
import threading
import time
import uuid

import httpx
from clikit import cli_env, write_files

RATE = 2 * 1024 * 1024  # bytes per second towards the server: an 8 MiB file takes 4 s
BIG = 8 * 1024 * 1024


class SlowRelay:
    """127.0.0.1:{port} relayed to the server, client-to-server bytes at RATE; counts them."""

    def __init__(self, target_port: int) -> None:
        self.target_port = target_port
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.sent = 0
        self.lock = threading.Lock()
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            server = socket.create_connection(("127.0.0.1", self.target_port))
            threading.Thread(target=self._pump, args=(client, server, True), daemon=True).start()
            threading.Thread(target=self._pump, args=(server, client, False), daemon=True).start()

    def _pump(self, src: socket.socket, dst: socket.socket, slow: bool) -> None:
        try:
            while data := src.recv(64 * 1024 if not slow else 16 * 1024):
                if slow:
                    time.sleep(len(data) / RATE)
                    with self.lock:
                        self.sent += len(data)
                dst.sendall(data)
        except OSError:
            pass
        finally:
            for s in (src, dst):
                try:
                    s.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
                s.close()

    def close(self) -> None:
        self.listener.close()


def test_ctrl_c_mid_upload_stops_at_once_and_deploys_nothing(cli_server, tmp_path):
    name = f"interrupted-{uuid.uuid4().hex[:8]}"
    write_files(tmp_path, {"assets/a.txt": "a", "assets/b.txt": "b",
                           "assets/big1.bin": b"1" * BIG, "assets/big2.bin": b"2" * BIG})
    relay = SlowRelay(cli_server.port)
    try:
        env = cli_env(cli_server, ASSETHOST_API_URL=f"http://127.0.0.1:{relay.port}")
        proc = subprocess.Popen([sys.executable, "-m", "assethost", "deploy", str(tmp_path), "-n", name,
                                 "--workers", "2"], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                text=True)
        deadline = time.monotonic() + 60
        while relay.sent < BIG // 2:  # well into the first big upload
            assert proc.poll() is None, proc.communicate()
            assert time.monotonic() < deadline, "the upload did not start"
            time.sleep(0.05)
        proc.send_signal(signal.SIGINT)
        interrupted = time.monotonic()
        out, err = proc.communicate(timeout=10)
        took = time.monotonic() - interrupted
    finally:
        relay.close()
    assert proc.returncode == 130, (out, err)
    assert took < 1.0
    assert err.endswith("Interrupted: no new build was deployed (what was already uploaded is reused by the "
                        "next deploy)\n"), err
    assert "Traceback" not in err

    with httpx.Client(base_url=cli_server.base_url, auth=(cli_server.account_sid, cli_server.auth_token),
                      trust_env=False, timeout=30) as http:
        services = http.get("/v1/Services", params={"PageSize": 1000}).json()["services"]
        (service,) = [s for s in services if s["unique_name"] == name]
        assert http.get(f"/v1/Services/{service['sid']}/Builds").json()["builds"] == []
        envs = http.get(f"/v1/Services/{service['sid']}/Environments").json()["environments"]
        assert [e["build_sid"] for e in envs] == [None]
