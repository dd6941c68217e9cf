"""Which client certificate a request's connection presented, for relying parties' checks (``/v1/checks``).

uvicorn verifies a client certificate during the TLS handshake (``ssl_ca_certs`` with ``CERT_OPTIONAL``: a client
without one is still served, one with a certificate the CA did not sign is refused by the handshake) but puts
nothing of it in the ASGI scope. ``ClientCertH11Protocol``, the HTTP protocol ``realname serve`` runs, reads the
verified peer certificate once per connection (the protocol learns of a TLS connection only after the handshake)
and gives each request on it the ASGI TLS extension (``scope["extensions"]["tls"]``, the client's certificate as
PEM first in ``client_cert_chain``) and the address of the socket's peer (``extensions["realname.peer"]``, taken
before uvicorn's ``X-Forwarded-For`` handling may replace ``scope["client"]``).

Behind a TLS-terminating load balancer the certificate ends at the balancer. It may name the certificate's
SHA-256 fingerprint in a header (``REALNAME_TLS__CLIENT_CERT_HEADER``), which counts only on connections from an
address in ``REALNAME_TLS__TRUSTED_PROXIES``; off by default.
"""

from __future__ import annotations

import asyncio
import ipaddress
import ssl
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

from starlette.types import ASGIApp, Receive, Scope, Send
from uvicorn.protocols.http.h11_impl import H11Protocol

from realname.domain.errors import InvalidInput
from realname.domain.relying_parties import cert_fingerprint, parse_fingerprint

PEER_EXTENSION = "realname.peer"
PROTOCOL = "realname.adapters.http.client_certs:ClientCertH11Protocol"
"""What ``realname serve`` gives uvicorn as ``http`` (a string: worker processes import it themselves)."""

_TLS_VERSIONS = {"TLSv1.2": 0x0303, "TLSv1.3": 0x0304}

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


class _ConnectionFacts:
    """Wraps the app for one connection: every request on it gets the connection's TLS facts and peer."""

    def __init__(self, app: ASGIApp, tls: dict[str, object] | None, peer: str | None) -> None:
        self._app = app
        self._tls = tls
        self._peer = peer

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            extensions: dict[str, Any] = dict(scope.get("extensions") or {})
            if self._tls is not None:
                extensions["tls"] = self._tls
            extensions[PEER_EXTENSION] = {"host": self._peer}
            scope = {**scope, "extensions": extensions}
        await self._app(scope, receive, send)


def tls_extension(ssl_object: ssl.SSLObject) -> dict[str, object]:
    """The ASGI TLS extension for a connection whose handshake is done: the verified client certificate, if
    any, as the first (and only) entry of ``client_cert_chain``."""
    der = ssl_object.getpeercert(binary_form=True)
    return {
        "server_cert": None,
        "client_cert_chain": [ssl.DER_cert_to_PEM_cert(der)] if der else [],
        "client_cert_name": None,
        "client_cert_error": None,
        "tls_version": _TLS_VERSIONS.get(ssl_object.version() or ""),
        "cipher_suite": None,
    }


class ClientCertH11Protocol(H11Protocol):
    """uvicorn's h11 protocol, telling the app each connection's verified client certificate and peer."""

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        ssl_object = transport.get_extra_info("ssl_object")
        tls = tls_extension(ssl_object) if isinstance(ssl_object, ssl.SSLObject) else None
        peer = self.client[0] if self.client else None
        wrapped = _ConnectionFacts(cast(ASGIApp, self.app), tls, peer)
        self.app = cast(Any, wrapped)


@dataclass(frozen=True, slots=True)
class ClientCertHeader:
    """A TLS-terminating proxy's header naming the client certificate's fingerprint, and who may send it."""

    name: str
    trusted_proxies: tuple[Network, ...]

    @classmethod
    def parse(cls, name: str, trusted_proxies: Iterable[str]) -> ClientCertHeader:
        """Raises ValueError for an empty header name, no trusted proxy, or one that is not an address or
        network (``10.0.0.5``, ``10.0.0.0/24``, ``fd00::/8``)."""
        networks = tuple(ipaddress.ip_network(p.strip(), strict=False) for p in trusted_proxies if p.strip())
        if not name.strip() or not networks:
            raise ValueError("a client-certificate header needs a name and at least one trusted proxy address")
        return cls(name.strip().lower(), networks)

    def trusts(self, host: str | None) -> bool:
        if host is None:
            return False
        try:
            address = ipaddress.ip_address(host)
        except ValueError:
            return False
        return any(address in network for network in self.trusted_proxies)


def presented_fingerprint(scope: Scope, header: ClientCertHeader | None) -> str | None:
    """The SHA-256 fingerprint of the client certificate this request's connection presented: the one the TLS
    handshake verified, else (when configured) the trusted proxy's header; None when neither.

    A header from any other address is ignored (anyone can send headers), as is a malformed one.
    """
    extensions = scope.get("extensions") or {}
    chain = (extensions.get("tls") or {}).get("client_cert_chain") or []
    if chain:
        return cert_fingerprint(ssl.PEM_cert_to_DER_cert(chain[0]))
    if header is None:
        return None
    peer = extensions.get(PEER_EXTENSION)
    host = peer.get("host") if isinstance(peer, dict) else (scope.get("client") or (None,))[0]
    if not header.trusts(host):
        return None
    wanted = header.name.encode("latin-1")
    values = [value for name, value in scope.get("headers", []) if name == wanted]
    if len(values) != 1:
        return None  # none, or a client's own copy beside the proxy's: trust neither
    return parse_fingerprint(values[0].decode("latin-1"))


@dataclass(frozen=True, slots=True)
class ServerTls:
    """The files ``realname serve`` speaks HTTPS with, and the CAs of relying parties' client certificates."""

    cert_file: Path
    key_file: Path
    client_ca_file: Path | None = None

    def uvicorn_options(self) -> dict[str, Any]:
        """uvicorn's ``ssl_*`` options, after loading every file once here so that a missing or broken one is a
        one-line error (``tls.files_invalid``) before any worker starts.

        Raises:
            InvalidInput: ``tls.files_invalid``.
        """
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        try:
            context.load_cert_chain(self.cert_file, self.key_file)
            if self.client_ca_file is not None:
                context.load_verify_locations(cafile=self.client_ca_file)
        except (OSError, ssl.SSLError) as exc:
            raise InvalidInput(
                f"cannot use the TLS files ({self.cert_file}, {self.key_file}"
                + (f", {self.client_ca_file}" if self.client_ca_file else "")
                + f"): {getattr(exc, 'strerror', None) or exc}",
                code="tls.files_invalid",
            ) from exc
        options: dict[str, Any] = {"ssl_certfile": str(self.cert_file), "ssl_keyfile": str(self.key_file)}
        if self.client_ca_file is not None:
            # CERT_OPTIONAL: staff, kiosks and browsers connect without a certificate; a party's pinned
            # certificate is then required by the checks' rule, not by the handshake.
            options.update(ssl_ca_certs=str(self.client_ca_file), ssl_cert_reqs=ssl.CERT_OPTIONAL)
        return options
