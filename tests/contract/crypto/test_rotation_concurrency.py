"""Key rotation without downtime: readers and writers keep working while KEKs rotate and records re-wrap."""

from __future__ import annotations

import random
import subprocess
import sys
import threading
from pathlib import Path

from realname.adapters.crypto.envelope import EnvelopeCipher
from realname.adapters.crypto.keyfile import LocalKeyFileProvider
from realname.app.keys import KeyProvider
from realname.app.ports import EncryptionContext

RECORDS = 120
READERS = 3


def _context(row: int) -> EncryptionContext:
    return EncryptionContext("subscribers", f"sub-{row:04d}", "name")


def _plaintext(row: int) -> bytes:
    return f"subscriber name {row}".encode()


def _rotate_and_rewrap_everything(cipher: EnvelopeCipher, keys: KeyProvider, store: dict[int, bytes]) -> None:
    keys.rotate()
    for row in list(store):
        store[row] = cipher.rewrap(store[row], _context(row))


def test_reads_never_fail_while_keys_rotate_and_records_rewrap(local_provider: LocalKeyFileProvider) -> None:
    cipher = EnvelopeCipher(local_provider)
    store = {row: cipher.encrypt(_plaintext(row), _context(row)) for row in range(RECORDS)}
    stop = threading.Event()
    failures: list[BaseException] = []
    reads = [0] * READERS

    def read(worker: int) -> None:
        chooser = random.Random(worker)
        while not stop.is_set():
            row = chooser.randrange(RECORDS)
            try:
                assert cipher.decrypt(store[row], _context(row)) == _plaintext(row)
            except BaseException as exc:  # recorded and re-raised by the assertion below
                failures.append(exc)
                return
            reads[worker] += 1

    threads = [threading.Thread(target=read, args=(worker,)) for worker in range(READERS)]
    for thread in threads:
        thread.start()
    try:
        for _ in range(3):
            _rotate_and_rewrap_everything(cipher, local_provider, store)
    finally:
        stop.set()
        for thread in threads:
            thread.join()

    assert failures == []
    assert all(count > 0 for count in reads)
    assert {cipher.kek_version_of(stored) for stored in store.values()} == {4}
    # Retire once no reader can still hold a record fetched before its re-wrap.
    for version in (1, 2, 3):
        local_provider.retire(version)
    assert all(cipher.decrypt(store[row], _context(row)) == _plaintext(row) for row in store)


def test_records_written_during_rotation_stay_readable(local_provider: LocalKeyFileProvider) -> None:
    cipher = EnvelopeCipher(local_provider)
    written: dict[int, bytes] = {}
    failures: list[BaseException] = []

    def write(first_row: int) -> None:
        try:
            for row in range(first_row, first_row + 60):
                written[row] = cipher.encrypt(_plaintext(row), _context(row))
        except BaseException as exc:
            failures.append(exc)

    writers = [threading.Thread(target=write, args=(start,)) for start in (0, 1000)]
    for thread in writers:
        thread.start()
    for _ in range(3):
        local_provider.rotate()
    for thread in writers:
        thread.join()

    assert failures == []
    assert all(cipher.decrypt(written[row], _context(row)) == _plaintext(row) for row in written)
    rewrapped = {row: cipher.rewrap(stored, _context(row)) for row, stored in written.items()}
    for version in (1, 2, 3):
        local_provider.retire(version)
    assert all(cipher.decrypt(rewrapped[row], _context(row)) == _plaintext(row) for row in rewrapped)


def test_a_second_process_reads_records_rewrapped_by_the_rotating_one(key_file: Path) -> None:
    server = EnvelopeCipher(LocalKeyFileProvider(key_file))
    operator_keys = LocalKeyFileProvider(key_file)
    operator = EnvelopeCipher(operator_keys)
    stored = server.encrypt(b"address", _context(1))
    operator_keys.rotate()
    moved = operator.rewrap(stored, _context(1))
    operator_keys.retire(1)
    assert server.decrypt(moved, _context(1)) == b"address"
    assert server.kek_version_of(server.encrypt(b"new", _context(2))) == 2


_ROTATE_IN_ANOTHER_PROCESS = """
import sys
from pathlib import Path
from realname.adapters.crypto.keyfile import LocalKeyFileProvider
keys = LocalKeyFileProvider(Path(sys.argv[1]))
for _ in range(int(sys.argv[2])):
    keys.rotate()
"""


def test_a_server_keeps_reading_and_writing_while_another_process_rotates(key_file: Path) -> None:
    server_keys = LocalKeyFileProvider(key_file)
    cipher = EnvelopeCipher(server_keys)
    store = {row: cipher.encrypt(_plaintext(row), _context(row)) for row in range(20)}
    operator = subprocess.Popen([sys.executable, "-c", _ROTATE_IN_ANOTHER_PROCESS, str(key_file), "8"])
    operations = 0
    try:
        while operator.poll() is None or operations == 0:
            row = operations % 20
            assert cipher.decrypt(store[row], _context(row)) == _plaintext(row)
            store[row] = cipher.encrypt(_plaintext(row), _context(row))
            operations += 1
    finally:
        operator.wait(timeout=60)
    assert operator.returncode == 0
    assert server_keys.current_kek_version() == 9
    assert cipher.kek_version_of(cipher.encrypt(b"after", _context(99))) == 9
    assert all(cipher.decrypt(store[row], _context(row)) == _plaintext(row) for row in store)
