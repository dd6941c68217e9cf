"""The separate, versioned biometric consent shown before any capture (PIPL art. 29; GB/T 41819).

The text and its version go together: a test pins the SHA-256 of the text for each version, so
changing the words without bumping the version fails the build.
"""

from __future__ import annotations

import hashlib

CONSENT_VERSION = "2026-11-v1"

CONSENT_TEXT = """\
Consent to process your face for identity verification

To register a phone number, the law requires us to confirm that you are the holder of the identity
document you presented. With your separate consent we will:

1. Record a short video of your face while you follow on-screen instructions (turn your head, blink).
2. Compare your live face with the photo on your identity document, on this service only (1:1 matching).
   We never search your face against other people's faces.
3. Delete the video, the frames, the document photo and any face measurements as soon as the
   decision is made. We keep only the result (pass or fail), the reason category and the time.

Your ID number and name are stored encrypted. Every access to your data is recorded, and you can see
all numbers registered to your ID and every access to your data on the self-service page.

You may decline. If you decline, a staff member can verify you in person instead (manual review);
declining does not stop you from registering.
"""

CONSENT_TEXT_SHA256 = hashlib.sha256(CONSENT_TEXT.encode("utf-8")).hexdigest()
