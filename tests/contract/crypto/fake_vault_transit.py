"""A fake HashiCorp Vault transit engine for contract tests: an httpx transport handler.

Implements the API subset ``VaultTransitKeyProvider`` uses, with Vault's paths, JSON shapes and error
messages, and real AES-256-GCM (12-byte nonce prefixed to the sealed data, like ``aes256-gcm96``).
"""

from __future__ import annotations

import base64
import binascii
import json
import re
import secrets
import threading
import time
from dataclasses import dataclass, field
from typing import Any

import httpx
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

_ROUTE = re.compile(
    r"^/v1/(?P<mount>[A-Za-z0-9_-]+)/(?:(?P<op>encrypt|decrypt|rewrap)/(?P<op_key>[A-Za-z0-9_-]+)"
    r"|keys/(?P<key>[A-Za-z0-9_-]+)(?:/(?P<action>rotate|config))?)$"
)
_CIPHERTEXT = re.compile(r"^vault:v(\d+):(.+)$")

VAULT_URL = "http://vault.test:8200"
VAULT_KEY = "realname-kek"


class VaultError(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


@dataclass
class TransitKey:
    versions: dict[int, bytes] = field(default_factory=dict)
    created: dict[int, int] = field(default_factory=dict)
    min_decryption_version: int = 1

    @property
    def latest_version(self) -> int:
        return max(self.versions)

    def add_version(self) -> int:
        version = len(self.versions) + 1
        self.versions[version] = AESGCM.generate_key(bit_length=256)
        self.created[version] = int(time.time())
        return version

    def encrypt(self, plaintext: bytes, version: int | None = None) -> str:
        chosen = self.latest_version if version in (None, 0) else version
        if chosen not in self.versions:
            raise VaultError(400, "invalid key version")
        nonce = secrets.token_bytes(12)
        sealed = AESGCM(self.versions[chosen]).encrypt(nonce, plaintext, None)
        return f"vault:v{chosen}:{base64.b64encode(nonce + sealed).decode('ascii')}"

    def decrypt(self, ciphertext: str) -> bytes:
        match = _CIPHERTEXT.fullmatch(ciphertext)
        if match is None:
            raise VaultError(400, "invalid ciphertext: no prefix")
        version = int(match.group(1))
        if version < self.min_decryption_version:
            raise VaultError(400, "ciphertext or signature version is disallowed by policy (too old)")
        if version > self.latest_version:
            raise VaultError(400, "invalid ciphertext: version is too new")
        try:
            raw = base64.b64decode(match.group(2), validate=True)
        except binascii.Error as exc:
            raise VaultError(400, "invalid ciphertext: could not decode base64") from exc
        if len(raw) < 12:
            raise VaultError(400, "invalid ciphertext length")
        try:
            return AESGCM(self.versions[version]).decrypt(raw[:12], raw[12:], None)
        except InvalidTag as exc:
            raise VaultError(400, "invalid ciphertext: unable to decrypt") from exc


class FakeVaultTransit:
    """Holds transit keys in memory and answers ``httpx.Request``s as Vault would."""

    def __init__(self, token: str = "s.fake-root-token", mount: str = "transit") -> None:
        self.token = token
        self.mount = mount
        self.keys: dict[str, TransitKey] = {}
        self.requests_seen = 0
        self.reachable = True
        self.fail_with_status: int | None = None
        self._lock = threading.Lock()

    def transport(self) -> httpx.MockTransport:
        return httpx.MockTransport(self.handle)

    def handle(self, request: httpx.Request) -> httpx.Response:
        if not self.reachable:
            raise httpx.ConnectError("connection refused", request=request)
        with self._lock:
            self.requests_seen += 1
            if self.fail_with_status is not None:
                return _errors(self.fail_with_status, "internal error")
            if request.headers.get("X-Vault-Token") != self.token:
                return _errors(403, "permission denied")
            try:
                return self._route(request)
            except VaultError as exc:
                return _errors(exc.status, exc.message)

    def _route(self, request: httpx.Request) -> httpx.Response:
        match = _ROUTE.fullmatch(request.url.path)
        if match is None or match.group("mount") != self.mount:
            raise VaultError(404, "no handler for route")
        body = _body(request)
        if match.group("op") is not None:
            if request.method != "POST":
                raise VaultError(405, "unsupported operation")
            return self._operation(match.group("op"), match.group("op_key"), body)
        name, action = match.group("key"), match.group("action")
        if action is None and request.method == "GET":
            return _data(self._key_info(name))
        if action is None and request.method == "POST":
            if name not in self.keys:
                if body.get("type", "aes256-gcm96") != "aes256-gcm96":
                    raise VaultError(400, "unsupported key type")
                self.keys[name] = TransitKey()
                self.keys[name].add_version()
            return httpx.Response(204)
        key = self._existing(name)
        if action == "rotate":
            key.add_version()
            return _data(self._key_info(name))
        wanted = body.get("min_decryption_version")
        if not isinstance(wanted, int) or not 1 <= wanted <= key.latest_version:
            raise VaultError(
                400,
                f"cannot set min decryption version of {wanted}, latest key version is {key.latest_version}",
            )
        key.min_decryption_version = wanted
        return _data(self._key_info(name))

    def _operation(self, op: str, name: str, body: dict[str, Any]) -> httpx.Response:
        if op == "encrypt":
            if name not in self.keys:  # Vault upserts the key on encrypt by default
                self.keys[name] = TransitKey()
                self.keys[name].add_version()
            try:
                plaintext = base64.b64decode(str(body["plaintext"]), validate=True)
            except (KeyError, binascii.Error) as exc:
                raise VaultError(400, "failed to base64-decode plaintext") from exc
            version = body.get("key_version")
            ciphertext = self.keys[name].encrypt(plaintext, version if isinstance(version, int) else None)
            return _data({"ciphertext": ciphertext, "key_version": int(ciphertext.split(":")[1][1:])})
        key = self._existing(name, status=400)
        given = body.get("ciphertext")
        if not isinstance(given, str):
            raise VaultError(400, "missing ciphertext to decrypt")
        plaintext = key.decrypt(given)
        if op == "decrypt":
            return _data({"plaintext": base64.b64encode(plaintext).decode("ascii")})
        rewrapped = key.encrypt(plaintext)
        return _data({"ciphertext": rewrapped, "key_version": key.latest_version})

    def _existing(self, name: str, status: int = 404) -> TransitKey:
        key = self.keys.get(name)
        if key is None:
            raise VaultError(status, "encryption key not found")
        return key

    def _key_info(self, name: str) -> dict[str, Any]:
        key = self._existing(name)
        return {
            "name": name,
            "type": "aes256-gcm96",
            "latest_version": key.latest_version,
            "min_decryption_version": key.min_decryption_version,
            "min_encryption_version": 0,
            "keys": {str(v): created for v, created in key.created.items()},
        }


def _body(request: httpx.Request) -> dict[str, Any]:
    if not request.content:
        return {}
    try:
        parsed = json.loads(request.content)
    except ValueError as exc:
        raise VaultError(400, "failed to parse JSON input") from exc
    if not isinstance(parsed, dict):
        raise VaultError(400, "failed to parse JSON input")
    return parsed


def _data(data: dict[str, Any]) -> httpx.Response:
    return httpx.Response(200, json={"data": data})


def _errors(status: int, message: str) -> httpx.Response:
    return httpx.Response(status, json={"errors": [message]})
