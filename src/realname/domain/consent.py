"""The separate, versioned biometric consent shown before any capture (PIPL art. 29; GB/T 41819), in each language
the pages offer: Simplified Chinese (the default) and English.

Each language's text has its own version; a consent records the version and the SHA-256 of the exact words shown.
A test pins the SHA-256 of every text for its version, so changing the words without a new version fails the build.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Final

ENGLISH_CONSENT_VERSION: Final = "2026-11-v1"

ENGLISH_CONSENT_TEXT: Final = """\
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


CHINESE_CONSENT_VERSION: Final = "2026-12-zh-CN-v1"

CHINESE_CONSENT_TEXT: Final = """\
人脸识别单独同意书

根据法律规定，办理电话号码入网须核实您是所出示身份证件的本人。经您单独同意，我们将：

1. 在您按屏幕提示转头、眨眼时，录制一段您面部的短视频。
2. 仅在本服务内将您的现场人脸与证件照片进行一比一比对。我们绝不会将您的人脸与他人的人脸进行检索比对。
3. 核验结果产生后，立即删除视频、画面、证件照片及任何人脸特征数据。我们只保留结果（通过或未通过）、
   原因类别和时间。

您的证件号码和姓名加密保存。每一次对您信息的访问都会被记录；您可以在自助查询页面查看您证件名下的全部号码
和每一次访问记录。

您可以不同意。如不同意，工作人员可以当面为您核验身份（人工复核）；不同意不影响您办理入网。
"""


@dataclass(frozen=True, slots=True)
class ConsentText:
    """One language's consent text and its version."""

    language: str
    version: str
    text: str

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.text.encode("utf-8")).hexdigest()


DEFAULT_CONSENT_LANGUAGE: Final = "zh-CN"
CONSENT_TEXTS: Final = {
    "zh-CN": ConsentText("zh-CN", CHINESE_CONSENT_VERSION, CHINESE_CONSENT_TEXT),
    "en": ConsentText("en", ENGLISH_CONSENT_VERSION, ENGLISH_CONSENT_TEXT),
}
"""The current text of each language; a new version replaces its language's entry."""

CONSENT_VERSION: Final = CONSENT_TEXTS[DEFAULT_CONSENT_LANGUAGE].version
CONSENT_TEXT: Final = CONSENT_TEXTS[DEFAULT_CONSENT_LANGUAGE].text
CONSENT_TEXT_SHA256: Final = CONSENT_TEXTS[DEFAULT_CONSENT_LANGUAGE].sha256


def consent_in(language: str | None) -> ConsentText:
    """The current text in ``language`` (a BCP 47 tag; ``zh``, ``zh-CN``, ``en``, ``en-GB``…); the default language
    for None or a language without a text."""
    if language:
        for candidate in (language, language.split("-")[0]):
            for known in CONSENT_TEXTS.values():
                if known.language.lower() == candidate.lower() or known.language.split("-")[0] == candidate.lower():
                    return known
    return CONSENT_TEXTS[DEFAULT_CONSENT_LANGUAGE]


def current_consent(version: str) -> ConsentText:
    """The current text whose version is ``version``; the default language's text when none is (the caller then
    refuses the outdated version)."""
    for known in CONSENT_TEXTS.values():
        if known.version == version:
            return known
    return CONSENT_TEXTS[DEFAULT_CONSENT_LANGUAGE]
