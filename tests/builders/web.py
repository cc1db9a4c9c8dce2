"""A loopback web server the download tests fetch from, and the archives and paths they check."""
from __future__ import annotations

import io
import re
import zipfile
from http.server import BaseHTTPRequestHandler
from pathlib import Path

from pmtiqa.data import fetch


class Handler(BaseHTTPRequestHandler):
    """Serves ``server.files``; answers Range requests; cuts the first ``server.cuts[path]`` short."""

    def do_GET(self) -> None:  # noqa: N802 - the http.server API
        server = self.server
        server.requests.append((self.path, self.headers.get("Range")))
        data = server.files.get(self.path)
        if data is None:
            self.send_error(404)
            return
        start = 0
        asked = re.fullmatch(r"bytes=(\d+)-", self.headers.get("Range") or "")
        if asked:
            start = int(asked[1])
            if start >= len(data):
                self.send_response(416)
                self.send_header("Content-Range", f"bytes */{len(data)}")
                self.end_headers()
                return
            self.send_response(206)
            self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
        else:
            self.send_response(200)
        body = data[start:]
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if server.cuts.get(self.path, 0) > 0:
            server.cuts[self.path] -= 1
            body = body[: len(body) // 3]  # announce everything, send a third, hang up
        self.wfile.write(body)

    def log_message(self, *args) -> None:
        pass


def zip_bytes(members: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return buffer.getvalue()


BIG = bytes(range(256)) * 12_000  # 3 MB: several chunks
BID_ZIP = zip_bytes({"BID/DatabaseGrades.xls": b"grades", "BID/DatabaseImage0001.JPG": BIG,
                     "__MACOSX/BID/._DatabaseGrades.xls": b"junk"})


def cached(tmp_path: Path, dataset: str, url: str) -> Path:
    """Where the download cache keeps the file of ``url``: one folder per URL."""
    return tmp_path / "raw" / ".downloads" / dataset / fetch.url_key(url) / fetch.file_name(url)


def leftovers(folder: Path) -> list[str]:
    """Temporary names that a failed or finished stage must not leave behind."""
    return sorted(p.name for p in folder.rglob("*") if p.name.endswith((".tmp", ".part")) or ".extract-" in p.name)
