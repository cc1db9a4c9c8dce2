"""Fixtures of the data stages' tests: a loopback HTTP server, and retries that do not wait."""
from __future__ import annotations

import threading
from http.server import ThreadingHTTPServer

import pytest

from pmtiqa.data import fetch
from tests.builders.web import Handler


@pytest.fixture
def server():
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    httpd.files, httpd.cuts, httpd.requests = {}, {}, []
    httpd.url = f"http://127.0.0.1:{httpd.server_address[1]}"
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield httpd
    httpd.shutdown()
    httpd.server_close()


@pytest.fixture(autouse=True)
def no_waiting(monkeypatch) -> None:
    monkeypatch.setattr(fetch, "_pause", lambda attempt: None)
