"""What tests/test_get_datasets.py runs get_datasets.sh against: a local HTTP
server for the dataset archive (Range requests, cut connections, 404, no Range),
the archive built from the coco_mini fixture, and helpers that run the script
and check what it left behind."""

from __future__ import annotations

import io
import os
import socket
import subprocess
import threading
import time
import zipfile
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SCRIPT = REPO / "get_datasets.sh"
EXPECTED = [
    "coco2014_captions.h5",
    "coco2014_vocab.json",
    "train2014_urls.txt",
    "val2014_urls.txt",
    "train2014_vgg16_fc7.h5",
    "val2014_vgg16_fc7.h5",
    "train2014_vgg16_fc7_pca.h5",
    "val2014_vgg16_fc7_pca.h5",
]
PROG = "get_datasets.sh: error:"


def make_zip(folder: Path, leave_out: str | None = None) -> bytes:
    """Zip the top-level files of ``folder`` under ``coco_captioning/`` (extra files included)."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for path in sorted(folder.iterdir()):
            if path.is_file() and path.name != leave_out:
                archive.write(path, f"coco_captioning/{path.name}")
    return buffer.getvalue()


# ---- local HTTP server -------------------------------------------------------------------------

class ZipServer(ThreadingHTTPServer):
    """Serves ``self.body`` at any path. Knobs: ``status`` (e.g. 404), ``cut_after`` (close the
    connection after that many body bytes of the next response), ``ranges`` (honour Range),
    ``throttle`` (seconds to pause after each 64 KB, for a slow download)."""

    daemon_threads = True

    def __init__(self):
        super().__init__(("127.0.0.1", 0), _Handler)
        self.body = b""
        self.status = 200
        self.cut_after: int | None = None
        self.ranges = True
        self.throttle = 0.0
        self.requests: list[tuple[str, str | None]] = []  # (method, Range header)
        self.lock = threading.Lock()

    def handle_error(self, request, client_address):
        pass  # a client hanging up mid-download is expected in these tests

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}/coco_captioning.zip"


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.0"

    def log_message(self, *args):  # keep the test output quiet
        pass

    def do_HEAD(self):
        self._respond(send_body=False)

    def do_GET(self):
        self._respond(send_body=True)

    def _respond(self, send_body: bool):
        server: ZipServer = self.server
        range_header = self.headers.get("Range")
        with server.lock:
            server.requests.append((self.command, range_header))
            cut, server.cut_after = server.cut_after, None
        body = server.body
        if server.status != 200:
            payload = b"not here\n"
            self.send_response(server.status)
            self.send_header("Content-Type", "text/plain")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            if send_body:
                self.wfile.write(payload)
            return
        start = 0
        if range_header and server.ranges:
            assert range_header.startswith("bytes=") and range_header.endswith("-"), range_header
            start = int(range_header[len("bytes="):-1])
            if start >= len(body):
                self.send_response(416)
                self.send_header("Content-Range", f"bytes */{len(body)}")
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            self.send_response(206)
            self.send_header("Content-Range", f"bytes {start}-{len(body) - 1}/{len(body)}")
        else:
            self.send_response(200)
        self.send_header("Content-Type", "application/zip")
        self.send_header("Content-Length", str(len(body) - start))
        self.end_headers()
        if not send_body:
            return
        chunk = body[start:] if cut is None else body[start:start + cut]
        step = 65536 if server.throttle else len(chunk) or 1
        for offset in range(0, len(chunk), step):
            self.wfile.write(chunk[offset:offset + step])
            self.wfile.flush()
            time.sleep(server.throttle)
        if cut is not None:  # simulate a dropped connection: close with bytes still owed
            self.connection.shutdown(socket.SHUT_RDWR)


# ---- running the script ------------------------------------------------------------------------

def run(url: str, dest: Path, *args: str, script: Path = SCRIPT, **env_extra):
    env = {k: v for k, v in os.environ.items()
           if k not in ("COCO_CAPTIONING_SHA256", "http_proxy", "HTTP_PROXY", "all_proxy", "ALL_PROXY")}
    env.update(COCO_CAPTIONING_URL=url, NO_PROXY="127.0.0.1", no_proxy="127.0.0.1")
    if dest is not None:
        env["CS231N_DATASETS_DIR"] = str(dest)
    else:
        env.pop("CS231N_DATASETS_DIR", None)
    env.update(env_extra)
    return subprocess.run(["bash", str(script), *args], env=env, cwd=dest.parent if dest else "/",
                          capture_output=True, text=True, timeout=60)


def assert_dataset_ok(dest: Path, coco_mini: Path):
    folder = dest / "coco_captioning"
    for name in EXPECTED:
        assert (folder / name).read_bytes() == (coco_mini / name).read_bytes(), name
    leftovers = sorted(p.name for p in dest.iterdir() if p.name != "coco_captioning")
    assert leftovers == [], leftovers  # no zip, .part or temporary folder left behind


def assert_refused(result, dest: Path, *words: str):
    assert result.returncode != 0
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(PROG), result.stderr
    for word in words:
        assert word in lines[0], (word, lines[0])
    assert not (dest / "coco_captioning").exists()
    assert not [p for p in dest.iterdir() if p.name.startswith(".coco_captioning.tmp")]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def restricted_path(tmp_path: Path, hide: set[str]) -> str:
    """A PATH holding links to every program on the current PATH except those in ``hide``."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for directory in os.environ["PATH"].split(os.pathsep):
        if not os.path.isdir(directory):
            continue
        for entry in os.scandir(directory):
            link = bin_dir / entry.name
            if entry.name not in hide and not link.exists() and os.access(entry.path, os.X_OK):
                link.symlink_to(entry.path)
    return str(bin_dir)
