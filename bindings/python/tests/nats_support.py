"""A real ``nats-server -js`` for the Python tests, and a minimal NATS protocol client that
creates a JetStream stream and publishes transom envelopes into it (the documented envelope:
one message per event, ``Transom-*`` headers, payload = the event payload).

``nats-server`` must be on PATH (Debian: ``apt-get install nats-server``): without it the tests
FAIL with that message, they are never skipped. Readiness is polled (connect + PING/PONG with a
deadline), never slept for."""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
import tempfile
import time
from typing import Dict, List, Optional


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


class Conn:
    """A blocking NATS connection (requests one at a time)."""

    def __init__(self, port: int, timeout: float = 10.0) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
        self.buf = b""
        self.inbox = 0
        if not self._line().startswith(b"INFO "):
            raise RuntimeError("not a NATS server")
        self.sock.sendall(
            b'CONNECT {"verbose":false,"headers":true,"no_responders":true,"protocol":1}\r\n'
            b"SUB _R.> 1\r\nPING\r\n"
        )
        while self._line() != b"PONG":
            pass

    def _fill(self) -> None:
        data = self.sock.recv(65536)
        if not data:
            raise ConnectionError("the server closed the connection")
        self.buf += data

    def _line(self) -> bytes:
        while b"\r\n" not in self.buf:
            self._fill()
        line, self.buf = self.buf.split(b"\r\n", 1)
        return line

    def _reply(self) -> bytes:
        while True:
            line = self._line()
            if line == b"PING":
                self.sock.sendall(b"PONG\r\n")
                continue
            if line.startswith(b"-ERR"):
                raise RuntimeError(line.decode())
            if not (line.startswith(b"MSG ") or line.startswith(b"HMSG ")):
                continue
            parts = line.split()
            total = int(parts[-1])
            hdr = int(parts[-2]) if line.startswith(b"HMSG ") else 0
            while len(self.buf) < total + 2:
                self._fill()
            body, self.buf = self.buf[hdr:total], self.buf[total + 2 :]
            return body

    def request(self, subject: str, payload: bytes, headers: Optional[Dict[str, str]] = None) -> bytes:
        self.inbox += 1
        reply = f"_R.{self.inbox}"
        if headers is None:
            self.sock.sendall(f"PUB {subject} {reply} {len(payload)}\r\n".encode() + payload + b"\r\n")
        else:
            h = "NATS/1.0\r\n" + "".join(f"{k}: {v}\r\n" for k, v in headers.items()) + "\r\n"
            hb = h.encode()
            head = f"HPUB {subject} {reply} {len(hb)} {len(hb) + len(payload)}\r\n".encode()
            self.sock.sendall(head + hb + payload + b"\r\n")
        return self._reply()

    def close(self) -> None:
        self.sock.close()


class NatsServer:
    """``nats-server -js`` on a free 127.0.0.1 port with its own store directory."""

    def __init__(self) -> None:
        binary = shutil.which("nats-server")
        if binary is None:
            raise RuntimeError(
                "nats-server is not on PATH: these tests need a real NATS server "
                "(Debian: apt-get install -y nats-server)"
            )
        self.dir = tempfile.mkdtemp(prefix="transom-py-nats-")
        self.port = free_port()
        self.url = f"nats://127.0.0.1:{self.port}"
        self.proc = subprocess.Popen(
            [binary, "-js", "-a", "127.0.0.1", "-p", str(self.port), "-sd", self.dir],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 30
        while True:
            if self.proc.poll() is not None:
                raise RuntimeError(f"nats-server exited with {self.proc.returncode}")
            try:
                Conn(self.port, timeout=0.5).close()
                return
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.02)  # the poll interval: the server is starting, ask again

    def stop(self) -> None:
        self.proc.kill()
        self.proc.wait()
        shutil.rmtree(self.dir, ignore_errors=True)

    def create_stream(self, name: str, prefix: str = "transom") -> None:
        c = Conn(self.port)
        body = {"name": name, "subjects": [f"{prefix}.>"], "storage": "file", "num_replicas": 1}
        r = json.loads(c.request(f"$JS.API.STREAM.CREATE.{name}", json.dumps(body).encode()))
        c.close()
        if "error" in r:
            raise RuntimeError(f"stream create: {r}")

    def publish_events(self, events: List[Dict[str, object]], prefix: str = "transom", omit: str = "") -> None:
        """Each event: sequence, stream (plain: [A-Za-z0-9_.-]), version, kind, timestamp,
        payload (bytes), id (int)."""
        c = Conn(self.port)
        for e in events:
            seq = int(str(e["sequence"]))
            headers = {
                "Nats-Expected-Last-Sequence": str(seq - 1),
                "Nats-Msg-Id": f"{int(str(e['id'])):032x}",
                "Transom-Sequence": str(seq),
                "Transom-Id": f"{int(str(e['id'])):032x}",
                "Transom-Stream": str(e["stream"]),
                "Transom-Version": str(e["version"]),
                "Transom-Kind": str(e["kind"]),
                "Transom-Timestamp": str(e["timestamp"]),
            }
            headers.pop(omit, None)
            payload = e["payload"]
            assert isinstance(payload, bytes)
            r = json.loads(c.request(f"{prefix}.{e['stream']}", payload, headers))
            if r.get("seq") != seq:
                raise RuntimeError(f"publish of {seq}: {r}")
        c.close()


def events(first: int, last: int) -> List[Dict[str, object]]:
    """Events ``first..=last``: stream "orders.eu"/"orders.us" by parity, kind 1 + i % 3."""
    return [
        {
            "sequence": i,
            "id": (0xABC << 64) + i,
            "stream": "orders.eu" if i % 2 else "orders.us",
            "version": i,
            "kind": 1 + i % 3,
            "timestamp": 1_700_000_000_000_000_000 + i,
            "payload": f"event {i}".encode(),
        }
        for i in range(first, last + 1)
    ]


__all__ = ["NatsServer", "Conn", "events", "free_port"]
