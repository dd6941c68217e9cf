"""Client certificates of relying parties as operators hand them over: one PEM certificate in, the fingerprint a
party is pinned by out (``cryptography`` parses it; its errors become ``party.client_cert_invalid``)."""

from __future__ import annotations

from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding

from realname.domain.errors import InvalidInput
from realname.domain.relying_parties import cert_fingerprint

MAX_PEM_BYTES = 64 * 1024
"""A client certificate's PEM is a few KiB; this leaves room for long chains, which are refused anyway."""


def pem_fingerprint(pem: bytes) -> str:
    """The SHA-256 fingerprint (of the DER bytes) of the one X.509 certificate in ``pem``.

    Raises:
        InvalidInput: ``party.client_cert_invalid``: not PEM, not a certificate, or more than one (pin the
            party's own certificate, not its chain).
    """
    try:
        certificates = x509.load_pem_x509_certificates(pem)
    except ValueError as exc:
        raise InvalidInput(
            "not a PEM certificate (expected one -----BEGIN CERTIFICATE----- block)", code="party.client_cert_invalid"
        ) from exc
    if len(certificates) != 1:
        raise InvalidInput(
            f"the file holds {len(certificates)} certificates; give only the party's own client certificate",
            code="party.client_cert_invalid",
        )
    return cert_fingerprint(certificates[0].public_bytes(Encoding.DER))
