"""Text recognition for scans and photos: Debian's Tesseract 5 through pytesseract.

pytesseract runs the `tesseract` binary as a child process: the binary and its rus/eng models come
from the system packages (tesseract-ocr, tesseract-ocr-rus, tesseract-ocr-eng), a crash or a hang
in it cannot take the bot down (each page has a timeout), and a missing binary is one clear error.
Callers run it in a worker thread (ingestion parses in ``asyncio.to_thread``), never on the event loop.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass

import pytesseract
from PIL import Image

__all__ = ["DEFAULT_OCR", "OCR_DPI", "OcrEngine", "OcrError", "OcrUnavailableError", "PageProgress"]

# Tesseract is trained on text of ~20-40 px x-height; 300 dpi puts 10-12 pt body text there.
OCR_DPI = 300

# (pages done, pages in all): called from the parsing thread after each recognised page.
PageProgress = Callable[[int, int], None]

# pytesseract keeps the binary's path in a module global: set and used under one lock.
_COMMAND_LOCK = threading.Lock()


class OcrError(Exception):
    """Tesseract failed on an image (a timeout, an image it cannot read)."""


class OcrUnavailableError(OcrError):
    """No Tesseract binary (or not the language models): scans cannot be read on this machine."""


@dataclass(frozen=True)
class OcrEngine:
    """Tesseract with the given binary and languages ("rus+eng": each page may mix both).

    ``timeout_s`` bounds one page; ``psm`` is Tesseract's page segmentation mode (3: automatic).
    """

    command: str = "tesseract"
    languages: str = "rus+eng"
    timeout_s: int = 180
    psm: int = 3

    def available(self) -> bool:
        """Whether the binary runs and has every language asked for."""
        try:
            with _COMMAND_LOCK:
                pytesseract.pytesseract.tesseract_cmd = self.command
                installed = set(pytesseract.get_languages())
        except (pytesseract.TesseractNotFoundError, pytesseract.TesseractError, OSError):
            return False
        return set(self.languages.split("+")) <= installed

    def read(self, image: Image.Image, dpi: int = OCR_DPI) -> str:
        """The text of one page image (any mode; ``dpi`` is its resolution), lines kept.

        Raises OcrUnavailableError without a usable binary, OcrError when Tesseract fails.
        """
        config = f"--psm {self.psm} --dpi {dpi}"
        try:
            with _COMMAND_LOCK:
                pytesseract.pytesseract.tesseract_cmd = self.command
                text = pytesseract.image_to_string(
                    image, lang=self.languages, config=config, timeout=self.timeout_s
                )
        except pytesseract.TesseractNotFoundError as exc:
            raise OcrUnavailableError(f"Tesseract not found ({self.command})") from exc
        except pytesseract.TesseractError as exc:
            if "Failed loading language" in str(exc) or "Error opening data file" in str(exc):
                raise OcrUnavailableError(f"Tesseract lacks the {self.languages} models") from exc
            raise OcrError(f"Tesseract failed: {exc.message}") from exc
        except RuntimeError as exc:  # pytesseract's timeout
            raise OcrError(f"Tesseract took over {self.timeout_s} s on one page") from exc
        return str(text)


DEFAULT_OCR = OcrEngine()
