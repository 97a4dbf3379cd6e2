"""The lean FCM transport: kept-alive connections, TLS verified, errors as requests' exceptions."""

from __future__ import annotations

import datetime as dt
import ipaddress
import socket
import ssl
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import requests
import requests.adapters
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from notifications.fcm import FcmSender
from notifications.http_transport import HttpClientAdapter
from tests.doubles.fake_fcm import FakeFcm


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive unless the handler says otherwise

    def do_POST(self) -> None:  # noqa: N802 - http.server's naming
        length = int(self.headers["Content-Length"])
        body = self.rfile.read(length)
        server: _Server = self.server  # type: ignore[assignment]
        if server.delay_s:
            threading.Event().wait(server.delay_s)
        payload = b'{"echo":' + body + b"}"
        self.send_response(200)
        self.send_header("Content-Type", "application/json; charset=utf-8")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)
        if server.close_after_each:
            # Close without saying so: the kept-alive connection goes stale in the client's pool.
            self.close_connection = True

    def log_message(self, *_args: object) -> None:
        pass


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    delay_s = 0.0
    close_after_each = False
    connections = 0

    def process_request(self, request: socket.socket, client_address: object) -> None:  # type: ignore[override]
        self.connections += 1
        super().process_request(request, client_address)  # type: ignore[arg-type]


def _certificate(tmp_path: Path) -> tuple[Path, Path]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "fcm.test")])
    # OpenSSL checks validity against the machine's real clock, not the suite's moved one
    # (GRASSROOTS_TEST_AT), so the window spans any instant either clock may show.
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(dt.datetime(2000, 1, 1, tzinfo=dt.UTC))
        .not_valid_after(dt.datetime(2099, 12, 31, tzinfo=dt.UTC))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = tmp_path / "cert.pem", tmp_path / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_path, key_path


@pytest.fixture
def tls_server(tmp_path: Path) -> Iterator[tuple[_Server, str, Path]]:
    cert_path, key_path = _certificate(tmp_path)
    server = _Server(("127.0.0.1", 0), _Handler)
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert_path, key_path)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server, f"https://127.0.0.1:{server.server_address[1]}", cert_path
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def plain_server() -> Iterator[tuple[_Server, str]]:
    server = _Server(("127.0.0.1", 0), _Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server, f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def _session(base: str, adapter: HttpClientAdapter) -> requests.Session:
    session = requests.Session()
    session.trust_env = False
    session.mount(base, adapter)
    return session


def test_tls_verified_against_the_sessions_bundle_and_kept_alive(tls_server) -> None:
    server, base, cert_path = tls_server
    adapter = HttpClientAdapter()
    session = _session(base, adapter)
    for n in range(3):
        answer = session.post(f"{base}/v1/send", json={"n": n}, verify=str(cert_path), timeout=5)
        assert answer.status_code == 200
        assert answer.json() == {"echo": {"n": n}}
        assert adapter.idle_connections() == 1
    assert server.connections == 1  # one TLS handshake for three requests


def test_tls_with_an_unknown_certificate_is_an_ssl_error(tls_server) -> None:
    _server, base, _cert_path = tls_server
    session = _session(base, HttpClientAdapter())
    with pytest.raises(requests.exceptions.SSLError):
        session.post(f"{base}/v1/send", json={}, timeout=5)  # verify=True: certifi's roots


def test_a_connection_the_server_closed_while_idle_is_not_reused(plain_server) -> None:
    server, base = plain_server
    server.close_after_each = True
    adapter = HttpClientAdapter()
    session = _session(base, adapter)
    first = session.post(f"{base}/v1/send", json={"n": 1}, timeout=5)
    threading.Event().wait(0.1)  # the server's FIN arrives
    second = session.post(f"{base}/v1/send", json={"n": 2}, timeout=5)
    assert (first.status_code, second.status_code) == (200, 200)
    assert server.connections == 2


def test_a_slow_answer_is_a_read_timeout(plain_server) -> None:
    server, base = plain_server
    server.delay_s = 1.0
    session = _session(base, HttpClientAdapter())
    with pytest.raises(requests.exceptions.ReadTimeout):
        session.post(f"{base}/v1/send", json={}, timeout=0.2)


def test_a_refused_connection_is_a_connection_error() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    base = f"http://127.0.0.1:{port}"
    session = _session(base, HttpClientAdapter())
    with pytest.raises(requests.exceptions.ConnectionError) as caught:
        session.post(f"{base}/v1/send", json={}, timeout=2)
    assert not isinstance(caught.value, requests.exceptions.Timeout)


def test_the_sender_uses_it_unless_a_proxy_applies(
    fake_fcm: FakeFcm, fcm_credentials: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    url = f"{fake_fcm.base_url}/v1/projects/x/messages:send"
    monkeypatch.delenv("HTTP_PROXY", raising=False)
    monkeypatch.delenv("http_proxy", raising=False)
    monkeypatch.setenv("NO_PROXY", "")
    with FcmSender(credentials_path=str(fcm_credentials), endpoint=fake_fcm.base_url) as sender:
        assert isinstance(sender._session.get_adapter(url), HttpClientAdapter)
    monkeypatch.setenv("HTTP_PROXY", "http://127.0.0.1:9")
    monkeypatch.setenv("http_proxy", "http://127.0.0.1:9")
    monkeypatch.delenv("NO_PROXY", raising=False)
    monkeypatch.delenv("no_proxy", raising=False)
    with FcmSender(credentials_path=str(fcm_credentials), endpoint=fake_fcm.base_url) as sender:
        adapter = sender._session.get_adapter(url)
        assert isinstance(adapter, requests.adapters.HTTPAdapter)
