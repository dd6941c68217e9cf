"""Where the portrait sits on the portrait face of a Chinese second-generation ID card (ID-1 format).

Shared by the card-front simulation (``card_front_photo``) and the printed-portrait locator (``printed_portrait``),
which falls back on it when face detection over the whole document-camera image finds nothing. Positions are
approximate (to a few millimetres): the locator searches a window around them, never cuts by them alone.
"""

from __future__ import annotations

from realname.adapters.vision.chip_photo import CHIP_HEIGHT_PX, CHIP_WIDTH_PX

CARD_WIDTH_MM = 85.6
CARD_HEIGHT_MM = 54.0
CARD_ASPECT = CARD_WIDTH_MM / CARD_HEIGHT_MM
PRINT_DPI = 350
PX_PER_MM = PRINT_DPI / 25.4
CARD_WIDTH_PX = round(CARD_WIDTH_MM * PX_PER_MM)  # 1,180
CARD_HEIGHT_PX = round(CARD_HEIGHT_MM * PX_PER_MM)  # 744
PORTRAIT_WIDTH_PX = 358
PORTRAIT_HEIGHT_PX = round(PORTRAIT_WIDTH_PX * CHIP_HEIGHT_PX / CHIP_WIDTH_PX)  # 442
# The portrait's top-left corner on the card, as fractions of the card's width and height (right side of the
# portrait face, about 5 mm from the right edge and 5 mm from the top).
PORTRAIT_LEFT = 0.63
PORTRAIT_TOP = 0.09
PORTRAIT_RIGHT = PORTRAIT_LEFT + PORTRAIT_WIDTH_PX / CARD_WIDTH_PX
PORTRAIT_BOTTOM = PORTRAIT_TOP + PORTRAIT_HEIGHT_PX / CARD_HEIGHT_PX
