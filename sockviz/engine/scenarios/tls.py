"""``tls``: TLS 1.3 on a TCP connection - Python's ``ssl`` over the same sockets.

The server's certificate is made when the run starts, for the address the client connects
to (an IP address in its subjectAltName), signed by a certificate authority made with it
that only this run's client trusts; nothing is fetched and nothing is kept (the key lives
in a private temporary folder only while ``ssl`` loads it). The ``cryptography`` package
makes them (imported when a run starts, not when the engine is imported). Both ends allow
TLS 1.3 only, so every record after the ServerHello is encrypted, and the server sends no
session tickets, so what crosses is the handshake and the two messages.
"""

from __future__ import annotations

import datetime
import ipaddress
import os
import ssl
import tempfile
from typing import Protocol

from sockviz.engine.scenarios.common_steps import IP, ONE_CONNECTION, client_connects, listener
from sockviz.engine.scenarios.scenario_types import ECHO, Expect, Produce, Scenario, Step
from sockviz.engine.states import Call, State

MESSAGE = b"hello over TLS"

#: What a non-blocking TLS call that must read first returns (ssl's exception).
WANT_READ = "SSLWantReadError"


class SocketSoFar(Protocol):
    """One of the run's sockets as far as it is read here."""

    @property
    def remote(self) -> str | None: ...


class RunSoFar(Protocol):
    """The run a :class:`Produce` step is made in (the runner's), as far as it is read here."""

    @property
    def sockets(self) -> dict[str, SocketSoFar]: ...


def host_of(address: str) -> str:
    """``127.0.0.1:5000`` -> ``127.0.0.1``; ``[::1]:5000`` -> ``::1``."""
    host = address.rsplit(":", 1)[0]
    return host[1:-1] if host.startswith("[") else host


def certificates(host: str) -> tuple[bytes, bytes, bytes]:
    """(the authority's certificate, the server's certificate, the server's key), PEM: the
    server's names ``host`` (an IP address) and is signed by the authority, valid from a
    minute ago for a day. Both keys are Ed25519, whose signatures are always 64 bytes (an
    ECDSA one's length varies by a byte or two), and the serial numbers fixed (the
    authority signs these two only): every run's records are the same sizes - the same
    segments every run."""
    try:
        from cryptography import x509  # (when a run starts: ~60 ms)
    except ImportError:
        raise ValueError(
            "the tls lesson makes its certificate with the cryptography package, which this "
            "Python does not have (pip install cryptography)"
        ) from None
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ed25519
    from cryptography.x509.oid import NameOID

    now = datetime.datetime.now(datetime.UTC)
    start, end = now - datetime.timedelta(minutes=1), now + datetime.timedelta(days=1)

    def name(text: str) -> x509.Name:
        return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, text)])

    ca_key, key = ed25519.Ed25519PrivateKey.generate(), ed25519.Ed25519PrivateKey.generate()
    ca = (
        x509.CertificateBuilder()
        .subject_name(name("sockviz run authority"))
        .issuer_name(name("sockviz run authority"))
        .public_key(ca_key.public_key())
        .serial_number(1)
        .not_valid_before(start)
        .not_valid_after(end)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=False,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .sign(ca_key, None)
    )
    cert = (
        x509.CertificateBuilder()
        .subject_name(name(host))
        .issuer_name(ca.subject)
        .public_key(key.public_key())
        .serial_number(2)
        .not_valid_before(start)
        .not_valid_after(end)
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address(host))]),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .sign(ca_key, None)
    )
    pem = serialization.Encoding.PEM
    return (
        ca.public_bytes(pem),
        cert.public_bytes(pem),
        key.private_bytes(pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()),
    )


class TlsPair:
    """The run's two TLS contexts, made when the first is asked for (the server's address is
    known then: the client has connected)."""

    def __init__(self) -> None:
        self._contexts: tuple[ssl.SSLContext, ssl.SSLContext] | None = None
        self._host = ""

    def _made(self, run: RunSoFar) -> tuple[ssl.SSLContext, ssl.SSLContext]:
        if self._contexts is None:
            remote = run.sockets["client"].remote
            if remote is None:
                raise ValueError("the client is not connected: no address to certify")
            self._host = host_of(remote)
            authority, cert, key = certificates(self._host)
            server = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            server.minimum_version = ssl.TLSVersion.TLSv1_3
            server.num_tickets = 0
            server.options |= ssl.OP_IGNORE_UNEXPECTED_EOF  # (see the client's close)
            with tempfile.TemporaryDirectory(prefix="sockviz-tls-") as folder:
                chain = os.path.join(folder, "server.pem")  # (mkdtemp's folder: 0700)
                with open(chain, "wb") as out:
                    out.write(cert + key)
                server.load_cert_chain(chain)
            client = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)  # (checks the name and the chain)
            client.minimum_version = ssl.TLSVersion.TLSv1_3
            client.load_verify_locations(cadata=authority.decode("ascii"))
            self._contexts = (server, client)
        return self._contexts

    def server_context(self, run: RunSoFar) -> tuple[ssl.SSLContext, None]:
        return self._made(run)[0], None

    def client_context(self, run: RunSoFar) -> tuple[ssl.SSLContext, str]:
        client = self._made(run)[1]
        return client, self._host


SCENARIO = Scenario(
    name="tls",
    summary="TLS 1.3 on a TCP socket: the handshake's records on the wire, recv() sees plaintext",
    about=(
        "TLS rides on a TCP connection. After connect() and accept(), each end wraps its "
        "socket with Python's ssl (OpenSSL underneath) and do_handshake() runs: the client's "
        "ClientHello, the server's ServerHello - and from there every record is encrypted, "
        "the certificate too in TLS 1.3. Then sendall() and recv() carry records on the wire "
        "while the program sees plaintext. The wire rows name each record from its header; "
        "nothing is decrypted. The certificate is made for this run's address."
    ),
    families=IP,
    protocol=TlsPair,
    sockets=ONE_CONNECTION,
    steps=(
        *listener(),
        *client_connects(),
        Step(
            "server",
            "conn-1",
            Call.SETBLOCKING,
            (False,),
            explain="The server makes its connection non-blocking, so that each TLS call "
            "does what it can and returns instead of waiting: one flight of the handshake "
            "per key (an asyncio server runs TLS this way).",
        ),
        Step(
            "client",
            "client",
            Call.SETBLOCKING,
            (False,),
            explain="The client's socket too: connect() is done, the rest will not wait.",
        ),
        Step(
            "server",
            "conn-1",
            Call.SETSOCKOPT,
            ("IPPROTO_TCP", "TCP_NODELAY", 1),
            explain="TCP_NODELAY: TLS writes whole records, and a small one must not wait "
            "behind an unacknowledged segment (Nagle's algorithm) for the peer's delayed ACK.",
        ),
        Step(
            "client",
            "client",
            Call.SETSOCKOPT,
            ("IPPROTO_TCP", "TCP_NODELAY", 1),
            explain="The client's too: its first message follows its Finished at once.",
        ),
        Step(
            "server",
            "conn-1",
            Call.WRAP,
            (Produce("server_context"),),
            explain="The server wraps its connection in TLS, with the certificate and key made "
            "for this run. wrap_socket() sends nothing: the handshake is a call of its own.",
        ),
        Step(
            "client",
            "client",
            Call.WRAP,
            (Produce("client_context"),),
            explain="The client wraps its socket too, naming the server it expects: its "
            "certificate must carry that address and be signed by an authority the client "
            "trusts (here: the run's own).",
        ),
        Step(
            "client",
            "client",
            Call.HANDSHAKE,
            expect_error=WANT_READ,
            expect=Expect(error=WANT_READ),
            explain="do_handshake() writes the ClientHello - the ciphers it knows and a key "
            "share - and, with nothing to read yet, returns SSLWantReadError: call again "
            "when the server's answer is in.",
        ),
        Step(
            "server",
            "conn-1",
            Call.HANDSHAKE,
            expect_error=WANT_READ,
            expect=Expect(error=WANT_READ),
            explain="The server reads the ClientHello and answers in one flight: ServerHello "
            "in the clear, then - encrypted with the keys both can now work out - its "
            "certificate, its signature and Finished. It needs the client's Finished to end.",
        ),
        Step(
            "client",
            "client",
            Call.HANDSHAKE,
            expect=Expect(state=State.CONNECTED, kernel="ESTABLISHED"),
            explain="The client reads the flight, checks the certificate against the "
            "address it named and the signature, and sends its own Finished: done.",
        ),
        Step(
            "server",
            "conn-1",
            Call.HANDSHAKE,
            explain="The server reads the client's Finished: its handshake is done too, "
            "with nothing more to send.",
        ),
        Step(
            "client",
            "client",
            Call.SENDALL,
            (MESSAGE,),
            explain="sendall() hands TLS plaintext; what crosses is one encrypted record.",
        ),
        Step(
            "server",
            "conn-1",
            Call.RECV,
            (4096,),
            expect=Expect(nbytes=len(MESSAGE)),
            explain="recv() reads the record, checks and decrypts it, and returns the plaintext.",
        ),
        Step(
            "server",
            "conn-1",
            Call.SENDALL,
            (ECHO,),
            explain="The server echoes the plaintext; TLS encrypts it again.",
        ),
        Step(
            "client",
            "client",
            Call.RECV,
            (4096,),
            expect=Expect(nbytes=len(MESSAGE)),
            explain="The client reads the echo: plaintext again.",
        ),
        Step(
            "client",
            "client",
            Call.CLOSE,
            explain="close() on the TLS socket closes the TCP connection. Python's close() "
            "sends no TLS close_notify first (unwrap() would); the server's context takes a "
            "plain end of stream as the end (OP_IGNORE_UNEXPECTED_EOF) - without that, "
            "OpenSSL would answer it with a fatal alert.",
        ),
        Step(
            "server",
            "conn-1",
            Call.RECV,
            (4096,),
            expect=Expect(nbytes=0),
            explain="The server's recv() sees the end of the stream.",
        ),
        Step("server", "conn-1", Call.CLOSE, explain="The server closes the connection."),
        Step("server", "server", Call.CLOSE, explain="The listener closes."),
    ),
)
