"""The customer's printed receipt after a reload: the full number and ICCID of a completed visit, kept encrypted.

The API answers every receipt masked, and the kiosk prints the full values it sent itself; after a reload the page
no longer has them. So a completed service keeps a copy of the two values, envelope-encrypted (``RECEIPT_COPY``,
bound to the attempt), that the current-visit answer gives back to the clerk of that visit on that kiosk only. The
copy is deleted when the clerk ends the visit, when the clerk starts the next customer on that kiosk, and once the
attempt time has passed since the receipt was issued (not served after that; deleted by ``serve``'s privacy job).
Never in clear in the database, never in the audit log or the logs.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime, timedelta

from realname.app.attempts import Receipt
from realname.app.ports import FieldCipher
from realname.app.privacy import RECEIPT_COPY
from realname.app.unit_of_work import UnitOfWork
from realname.domain.numbers import Msisdn
from realname.domain.sim import Iccid


@dataclass(frozen=True, slots=True)
class ReceiptCopy:
    """What the customer's printed receipt shows in full."""

    msisdn: str
    iccid: str

    def __repr__(self) -> str:
        return f"ReceiptCopy(msisdn={Msisdn(self.msisdn).masked!r}, iccid={Iccid.parse(self.iccid).masked!r})"


def keep_receipt_copy(
    uow: UnitOfWork, cipher: FieldCipher, receipt: Receipt, msisdn: Msisdn, iccid: Iccid, keep_minutes: int
) -> None:
    """Keep the full number and SIM of ``receipt`` encrypted, for ``keep_minutes`` after it was issued."""
    plaintext = json.dumps({"msisdn": str(msisdn), "iccid": iccid.digits}).encode()
    delete_after = datetime.fromisoformat(receipt.issued_at) + timedelta(minutes=keep_minutes)
    ciphertext = cipher.encrypt(plaintext, RECEIPT_COPY.context(receipt.attempt_id))
    uow.attempts.keep_receipt_copy(receipt.attempt_id, ciphertext, delete_after)


def receipt_copy(uow: UnitOfWork, cipher: FieldCipher, attempt_id: str, now: datetime) -> ReceiptCopy | None:
    """The attempt's kept copy, unless it is gone or due."""
    ciphertext = uow.attempts.receipt_copy(attempt_id, now)
    if ciphertext is None:
        return None
    values = json.loads(cipher.decrypt(ciphertext, RECEIPT_COPY.context(attempt_id)))
    return ReceiptCopy(str(values["msisdn"]), str(values["iccid"]))
