"""The sending side against real sockets: TLS verified for the URL's host name while the
connection goes to the checked address, an endpoint that drips its answer cut off, and every
checked address tried in turn."""

from __future__ import annotations

import datetime as dt
import ipaddress
import socket
import ssl
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from pressrun.webhooks import client
from pressrun.webhooks.client import DeliveryFailed


@pytest.fixture(autouse=True)
def _loopback(settings: Any) -> None:
    settings.WEBHOOKS_ALLOW_LOOPBACK = True


def _certificate(directory: Path, names: list[str]) -> tuple[Path, Path]:
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, names[0])])
    now = dt.datetime.now(dt.UTC)
    alternative: list[x509.GeneralName] = []
    for name in names:
        try:
            alternative.append(x509.IPAddress(ipaddress.ip_address(name)))
        except ValueError:
            alternative.append(x509.DNSName(name))
    certificate = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName(alternative), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path = directory / "cert.pem"
    key_path = directory / "key.pem"
    cert_path.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_path, key_path


class _Ok(BaseHTTPRequestHandler):
    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        self.send_response(204)
        self.end_headers()

    def log_message(self, *args: Any) -> None:
        return


@pytest.fixture
def tls_server(tmp_path: Path) -> Iterator[tuple[int, Path]]:
    """An HTTPS endpoint on 127.0.0.1 whose certificate names only `localhost`."""
    cert, key = _certificate(tmp_path, ["localhost"])
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Ok)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield int(server.server_address[1]), cert
    server.shutdown()
    server.server_close()


def test_an_untrusted_certificate_is_refused(tls_server: tuple[int, Path]) -> None:
    port, _ = tls_server
    with pytest.raises(DeliveryFailed, match="CERTIFICATE_VERIFY_FAILED"):
        client.post(f"https://localhost:{port}/in", body=b"{}", headers={}, timeout=2)


def test_tls_is_verified_for_the_urls_host_name(
    tls_server: tuple[int, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    port, cert = tls_server
    monkeypatch.setenv("SSL_CERT_FILE", str(cert))  # trust this certificate, as a CA would
    response = client.post(f"https://localhost:{port}/in", body=b"{}", headers={}, timeout=2)
    assert response.status == 204
    # The same server by its address: the certificate does not name 127.0.0.1.
    with pytest.raises(DeliveryFailed, match="CERTIFICATE_VERIFY_FAILED"):
        client.post(f"https://127.0.0.1:{port}/in", body=b"{}", headers={}, timeout=2)


@pytest.fixture
def dripping_server() -> Iterator[int]:
    """Answers a status line, then one header byte every 0.3 s, for ever."""
    listener = socket.create_server(("127.0.0.1", 0))
    stop = threading.Event()

    def serve() -> None:
        connection, _ = listener.accept()
        with connection:
            connection.recv(65536)
            connection.sendall(b"HTTP/1.1 200 OK\r\nX-Slow: ")
            while not stop.is_set():
                try:
                    connection.sendall(b"a")
                except OSError:
                    return
                time.sleep(0.3)

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield int(listener.getsockname()[1])
    stop.set()
    listener.close()


def test_a_dripping_answer_is_cut_off(dripping_server: int) -> None:
    started = time.monotonic()
    with pytest.raises(DeliveryFailed) as failed:
        client.post(f"http://127.0.0.1:{dripping_server}/in", body=b"{}", headers={}, timeout=1)
    elapsed = time.monotonic() - started
    assert failed.value.message == "No complete answer within 3 s: timed out."
    assert 2.9 < elapsed < 4.5


def test_each_checked_address_is_tried_in_turn(monkeypatch: pytest.MonkeyPatch) -> None:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Ok)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    port = int(server.server_address[1])
    with socket.create_server(("127.0.0.1", 0)) as closed:
        dead_port = closed.getsockname()[1]
    tried: list[Any] = []
    real = socket.create_connection
    real_getaddrinfo = socket.getaddrinfo

    def fake_getaddrinfo(host: str, port: int, *args: Any, **kwargs: Any) -> list[Any]:
        if host != "localhost":
            return real_getaddrinfo(host, port, *args, **kwargs)
        return [
            (socket.AF_INET, socket.SOCK_STREAM, 6, "", ("127.0.0.2", port)),
            (socket.AF_INET, socket.SOCK_STREAM, 6, "", ("127.0.0.1", port)),
        ]

    def create_connection(address: tuple[str, int], *args: Any) -> socket.socket:
        tried.append(address[0])
        if address[0] == "127.0.0.2":
            return real(("127.0.0.1", dead_port), *args)  # refused
        return real(address, *args)

    monkeypatch.setattr(client.socket, "getaddrinfo", fake_getaddrinfo)
    monkeypatch.setattr(client.socket, "create_connection", create_connection)
    try:
        response = client.post(f"http://localhost:{port}/in", body=b"{}", headers={}, timeout=2)
    finally:
        server.shutdown()
        server.server_close()
    assert response.status == 204
    assert tried == ["127.0.0.2", "127.0.0.1"]
