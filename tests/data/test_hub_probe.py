"""The hub probe asks the endpoint huggingface_hub would use, through its proxies, in seconds."""

from __future__ import annotations

import http.server
import socket
import threading
import time
from collections.abc import Iterator

import pytest

from unpact_exp import hub


class _Answer(http.server.BaseHTTPRequestHandler):
    """Answers every HEAD with 200 and remembers the request line (a hub mirror or a proxy)."""

    seen: list[str] = []

    def do_HEAD(self) -> None:  # noqa: N802 (http.server's naming)
        _Answer.seen.append(self.requestline)
        self.send_response(200)
        self.end_headers()

    def log_message(self, *args: object) -> None:
        return


@pytest.fixture
def online(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """No offline flag anywhere, no proxy, a fresh session and probe cache."""
    import huggingface_hub.constants
    from huggingface_hub.utils import close_session

    for name in ("HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE", "TRANSFORMERS_OFFLINE"):
        monkeypatch.delenv(name, raising=False)
    for name in ("HTTPS_PROXY", "HTTP_PROXY", "ALL_PROXY", "https_proxy", "http_proxy"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("NO_PROXY", "")
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", False)
    close_session()
    hub._answers.cache_clear()
    yield
    close_session()
    hub._answers.cache_clear()


@pytest.fixture
def server() -> Iterator[str]:
    """A local HTTP server that answers; yields its base URL."""
    _Answer.seen = []
    httpd = http.server.HTTPServer(("127.0.0.1", 0), _Answer)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


def closed_port() -> int:
    """A local port nothing listens on."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_endpoint_that_does_not_answer_fails_in_seconds(online, monkeypatch) -> None:
    endpoint = f"http://127.0.0.1:{closed_port()}"
    monkeypatch.setenv("HF_ENDPOINT", endpoint)
    start = time.monotonic()
    reason = hub.hub_unavailable_reason()
    assert time.monotonic() - start < 2 * hub.PROBE_TIMEOUT_S
    assert reason is not None and reason.startswith(f"{endpoint} is not reachable (no network)")
    assert "HF_ENDPOINT" in reason and "HTTPS_PROXY" in reason
    message = hub.hub_error_message("model", "org/model", reason, "model.path")
    assert "model.path=DIR" in message and endpoint in message


def test_mirror_named_by_hf_endpoint_is_asked(online, server, monkeypatch) -> None:
    monkeypatch.setenv("HF_ENDPOINT", server + "/")
    assert hub.hub_endpoint() == server
    assert hub.hub_unavailable_reason() is None
    assert _Answer.seen == ["HEAD / HTTP/1.1"]


def test_proxy_is_honoured(online, server, monkeypatch) -> None:
    """A mirror name that does not resolve is reached through HTTP_PROXY, as the client would."""
    monkeypatch.setenv("HF_ENDPOINT", "http://hub-mirror.invalid")
    monkeypatch.setenv("HTTP_PROXY", server)
    assert hub.hub_reachable()
    assert _Answer.seen == ["HEAD http://hub-mirror.invalid/ HTTP/1.1"]


def test_offline_flags_win_without_probing(online, monkeypatch) -> None:
    monkeypatch.setenv("HF_ENDPOINT", f"http://127.0.0.1:{closed_port()}")
    monkeypatch.setenv("TRANSFORMERS_OFFLINE", "1")
    assert hub.hub_unavailable_reason() == "TRANSFORMERS_OFFLINE is set"
    monkeypatch.delenv("TRANSFORMERS_OFFLINE")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    assert hub.hub_unavailable_reason() == "HF_HUB_OFFLINE is set"
    assert hub._answers.cache_info().currsize == 0  # never probed
