"""KEKs in HashiCorp Vault's transit engine: data keys are wrapped and unwrapped by Vault, never the KEK.

Uses the transit API subset ``encrypt``, ``decrypt``, ``rewrap``, ``keys/<name>`` (read, create),
``keys/<name>/rotate`` and ``keys/<name>/config``. Vault ciphertexts look like ``vault:v3:<base64>``;
the version becomes ``WrappedKey.kek_version`` and the decoded base64 its ``ciphertext``.

Retiring a version raises the key's ``min_decryption_version`` past it, which in Vault also retires
every older version and can be undone by an operator (Vault keeps the key bytes unless the key is
trimmed): prefer ``keys/<name>/trim`` on the Vault side once a rotation is final.
"""

from __future__ import annotations

import base64
import binascii
import re
from typing import Any

import httpx

from realname.app.keys import KekStatus, KekVersion, WrappedKey
from realname.domain.errors import Conflict, DependencyUnavailable

_VAULT_CIPHERTEXT = re.compile(r"^vault:v([1-9][0-9]{0,9}):([A-Za-z0-9+/=]+)$")
_NAME = re.compile(r"^[A-Za-z0-9_-]{1,128}$")


def _unavailable(message: str) -> DependencyUnavailable:
    return DependencyUnavailable(message, code="keys.unavailable")


class VaultTransitKeyProvider:
    """``KeyProvider`` over one Vault transit key (type ``aes256-gcm96``)."""

    def __init__(
        self,
        base_url: str,
        token: str,
        key_name: str,
        *,
        mount: str = "transit",
        transport: httpx.BaseTransport | None = None,
        timeout_seconds: float = 5.0,
        namespace: str | None = None,
    ) -> None:
        if not _NAME.fullmatch(key_name) or not _NAME.fullmatch(mount):
            raise ValueError("Vault key and mount names are 1–128 letters, digits, '-' or '_'")
        headers = {"X-Vault-Token": token}
        if namespace:
            headers["X-Vault-Namespace"] = namespace
        self._client = httpx.Client(base_url=base_url, headers=headers, transport=transport, timeout=timeout_seconds)
        self._prefix = f"/v1/{mount}"
        self._key_name = key_name

    def __repr__(self) -> str:
        return f"VaultTransitKeyProvider(key_name={self._key_name!r})"

    def close(self) -> None:
        self._client.close()

    # KeyProvider

    def current_kek_version(self) -> int:
        return int(self._read_key()["latest_version"])

    def kek_versions(self) -> tuple[KekVersion, ...]:
        info = self._read_key()
        oldest_usable = int(info["min_decryption_version"])
        versions = sorted(int(v) for v in info["keys"])
        return tuple(
            KekVersion(v, KekStatus.ACTIVE if v >= oldest_usable else KekStatus.RETIRED, None) for v in versions
        )

    def wrap(self, data_key: bytes) -> WrappedKey:
        plaintext = base64.b64encode(data_key).decode("ascii")
        data = self._post(f"/encrypt/{self._key_name}", {"plaintext": plaintext})
        return _parse_ciphertext(data.get("ciphertext"))

    def unwrap(self, wrapped: WrappedKey) -> bytes:
        data = self._post(f"/decrypt/{self._key_name}", {"ciphertext": _format_ciphertext(wrapped)})
        try:
            return base64.b64decode(str(data["plaintext"]).encode("ascii"), validate=True)
        except (KeyError, ValueError, binascii.Error) as exc:
            raise _unavailable("Vault returned a malformed plaintext") from exc

    def rewrap(self, wrapped: WrappedKey) -> WrappedKey:
        data = self._post(f"/rewrap/{self._key_name}", {"ciphertext": _format_ciphertext(wrapped)})
        return _parse_ciphertext(data.get("ciphertext"))

    def rotate(self) -> int:
        self._post(f"/keys/{self._key_name}/rotate", {})
        return self.current_kek_version()

    def retire(self, version: int) -> None:
        info = self._read_key()
        latest, oldest_usable = int(info["latest_version"]), int(info["min_decryption_version"])
        if version > latest:
            raise DependencyUnavailable(f"KEK version {version} is unknown", code="keys.unknown_version")
        if version == latest:
            raise Conflict(f"KEK version {version} is current; rotate first", code="keys.retire_current")
        if version < oldest_usable:
            return
        self._post(f"/keys/{self._key_name}/config", {"min_decryption_version": version + 1})

    # set-up

    def ensure_key(self) -> None:
        """Create the transit key (``aes256-gcm96``) if it does not exist yet."""
        self._post(f"/keys/{self._key_name}", {"type": "aes256-gcm96"})

    # internals

    def _read_key(self) -> dict[str, Any]:
        return self._send("GET", f"/keys/{self._key_name}", None)

    def _post(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        return self._send("POST", path, body)

    def _send(self, method: str, path: str, body: dict[str, Any] | None) -> dict[str, Any]:
        try:
            response = self._client.request(method, self._prefix + path, json=body)
        except httpx.HTTPError as exc:
            raise _unavailable("Vault cannot be reached") from exc
        if response.status_code >= 400:
            raise _error_for(response)
        if response.status_code == 204 or not response.content:
            return {}
        try:
            document = response.json()
        except ValueError as exc:
            raise _unavailable("Vault returned a malformed response") from exc
        data = document.get("data") if isinstance(document, dict) else None
        return data if isinstance(data, dict) else {}


def _error_for(response: httpx.Response) -> DependencyUnavailable:
    try:
        errors = response.json().get("errors") or []
        text = " ".join(str(e) for e in errors).lower()
    except (ValueError, AttributeError):
        text = ""
    if response.status_code in (401, 403):
        return DependencyUnavailable("Vault refused the token", code="keys.forbidden")
    if response.status_code == 400 and "disallowed by policy" in text:
        return DependencyUnavailable("the data key's KEK version is retired", code="keys.retired_version")
    if response.status_code == 400 and any(
        marker in text for marker in ("too new", "larger than the latest", "invalid key version")
    ):
        return DependencyUnavailable("the data key's KEK version is unknown", code="keys.unknown_version")
    if response.status_code == 400:
        return DependencyUnavailable("a wrapped data key failed to decrypt", code="crypto.decrypt_failed")
    return _unavailable(f"Vault answered {response.status_code}")


def _format_ciphertext(wrapped: WrappedKey) -> str:
    return f"vault:v{wrapped.kek_version}:{base64.b64encode(wrapped.ciphertext).decode('ascii')}"


def _parse_ciphertext(text: object) -> WrappedKey:
    match = _VAULT_CIPHERTEXT.fullmatch(text) if isinstance(text, str) else None
    if match is None:
        raise _unavailable("Vault returned a malformed ciphertext")
    try:
        return WrappedKey(int(match.group(1)), base64.b64decode(match.group(2), validate=True))
    except (ValueError, binascii.Error) as exc:
        raise _unavailable("Vault returned a malformed ciphertext") from exc
