"""HttpSource over real loopback HTTP: retries, Retry-After, final errors, no leaked secrets."""

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
import pytest

from orchestration.collectors.http import HttpSource, SourceError, retry_after_seconds, safe_url

SECRET = "sk-ant-admin01-RECOGNISABLE-FAKE-KEY"


class ScriptedServer:
    """Answers each request with the next scripted (status, headers, body)."""

    def __init__(self, script):
        self.script = list(script)
        self.requests = []
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):
                owner.requests.append((self.path, dict(self.headers)))
                status, headers, body = owner.script.pop(0)
                payload = body if isinstance(body, bytes) else json.dumps(body).encode()
                self.send_response(status)
                for name, value in headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def log_message(self, *args):
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def scripted():
    servers = []

    def make(*script):
        server = ScriptedServer(script)
        servers.append(server)
        return server

    yield make
    for server in servers:
        server.close()


def _client(url, waits, max_retries=4):
    return HttpSource(
        vendor="Vendor",
        base_url=url,
        headers={"x-api-key": SECRET},
        max_retries=max_retries,
        sleep=waits.append,
    )


def test_rate_limits_and_server_errors_are_retried_honouring_retry_after(scripted):
    server = scripted(
        (429, {"Retry-After": "7"}, {"error": {"type": "rate_limit_error", "message": "slow"}}),
        (503, {}, {"error": "unavailable"}),
        (200, {}, {"ok": True}),
    )
    waits = []
    with _client(server.url, waits) as http:
        assert http.get_json("/v1/things", {"a": "1"}) == {"ok": True}
    assert waits[0] == 7.0
    assert 0 < waits[1] <= 2.0
    assert len(server.requests) == 3
    assert server.requests[0][1]["x-api-key"] == SECRET


def test_truncated_json_is_retried(scripted):
    server = scripted((200, {}, b'{"data": [1, 2'), (200, {}, {"data": [1, 2]}))
    with _client(server.url, []) as http:
        assert http.get_json("/x") == {"data": [1, 2]}


def test_authentication_errors_fail_at_once_with_the_vendor_text_and_no_secret(scripted):
    server = scripted(
        (
            401,
            {},
            {"type": "error", "error": {"type": "authentication_error", "message": "bad key"}},
        )
    )
    with _client(server.url, []) as http, pytest.raises(SourceError) as failure:
        http.get_json("/v1/org/report", [("starting_at", "2026-11-01T00:00:00Z")])
    message = str(failure.value)
    assert "HTTP 401" in message
    assert "authentication_error: bad key" in message
    assert f"{server.url}/v1/org/report?starting_at=2026-11-01T00:00:00Z" in message
    assert SECRET not in message
    assert len(server.requests) == 1


def test_giving_up_says_what_happened_and_how_often(scripted):
    server = scripted(*[(500, {}, {"error": {"message": "boom"}})] * 3)
    with _client(server.url, [], max_retries=2) as http, pytest.raises(SourceError) as failure:
        http.get_json("/x")
    assert "HTTP 500 boom" in str(failure.value)
    assert "gave up after 3 attempts" in str(failure.value)


def test_unreachable_server_names_the_url():
    with (
        HttpSource(
            vendor="Vendor",
            base_url="http://127.0.0.1:9",
            headers={},
            max_retries=1,
            sleep=lambda s: None,
        ) as http,
        pytest.raises(SourceError) as failure,
    ):
        http.get_json("/v1/x")
    assert "Vendor: GET http://127.0.0.1:9/v1/x failed: ConnectError" in str(failure.value)


def test_nan_in_a_body_is_not_accepted_as_json(scripted):
    server = scripted(*[(200, {}, b'{"value": NaN}')] * 2)
    with _client(server.url, [], max_retries=1) as http, pytest.raises(SourceError) as failure:
        http.get_json("/x")
    assert "not valid JSON" in str(failure.value)


def test_safe_url_masks_credential_like_parameters():
    url = "https://api.example.com/v1?api_key=abc&start=1&access_token=xyz&page=p"
    assert safe_url(url) == "https://api.example.com/v1?api_key=***&start=1&access_token=***&page=p"


def test_retry_after_accepts_seconds_and_http_dates():
    assert retry_after_seconds(httpx.Response(429, headers={"Retry-After": "3"})) == 3.0
    past = httpx.Response(429, headers={"Retry-After": "Wed, 21 Oct 2015 07:28:00 GMT"})
    assert retry_after_seconds(past) == 0.0
    assert retry_after_seconds(httpx.Response(429)) is None
