"""Images (PNG, JPEG, TIFF; a multi-page TIFF is one page per frame): their text, read by OCR.

Pillow opens them (with its decompression-bomb guard) and Tesseract reads each frame; the
document has one section per frame, numbered like PDF pages.
"""

from __future__ import annotations

import io
import warnings
from collections.abc import Iterator

from PIL import Image, ImageOps, ImageSequence, UnidentifiedImageError

from bot.ingest.document import (
    CorruptDocumentError,
    DocumentTooLargeError,
    EmptyDocumentError,
    ParsedDocument,
    ParseWarning,
    ScanNeedsOcrError,
    Section,
    normalise,
    stem,
)
from bot.ingest.ocr import OCR_DPI, OcrEngine, OcrError, OcrUnavailableError, PageProgress

__all__ = ["IMAGE_EXTENSIONS", "is_image", "parse_image"]

IMAGE_EXTENSIONS = frozenset({".png", ".jpg", ".jpeg", ".tif", ".tiff"})
_MAGIC = (b"\x89PNG\r\n\x1a\n", b"\xff\xd8\xff", b"II*\x00", b"MM\x00*")
_MAX_FRAMES = 500  # a TIFF "document" longer than this is an archive of scans, not one upload
# A phone photo has no dpi; Tesseract then guesses. 300 is right for scans of A4 at ~2,500 px wide.
_DEFAULT_DPI = OCR_DPI


def is_image(data: bytes) -> bool:
    """Whether ``data`` starts like a PNG, JPEG or TIFF file."""
    return data.startswith(_MAGIC)


def parse_image(
    data: bytes, file_name: str, ocr: OcrEngine | None, on_page: PageProgress | None = None
) -> ParsedDocument:
    """The recognised text of every frame; raises EmptyDocumentError when OCR is unavailable
    or finds no text, DocumentTooLargeError for decompression bombs, CorruptDocumentError else."""
    if ocr is None:
        raise ScanNeedsOcrError("an image needs OCR, which is turned off")
    sections = []
    frames = 0
    try:
        for number, (frame, dpi, total) in enumerate(_frames(data), start=1):
            frames = number
            text = normalise(ocr.read(frame, dpi))
            if text:
                sections.append(Section(text=text, page=number, heading=None))
            if on_page is not None:
                on_page(number, total)
    except OcrUnavailableError as exc:
        raise ScanNeedsOcrError(f"an image needs OCR, which is not available here: {exc}") from exc
    except OcrError as exc:
        raise CorruptDocumentError(str(exc)) from exc
    if not sections:
        raise EmptyDocumentError("no text recognised in the image")
    return ParsedDocument(
        title=stem(file_name),
        file_name=file_name,
        kind="image",
        pages=frames,
        sections=sections,
        warnings=(ParseWarning("ocr_page", frames),),
    )


def _frames(data: bytes) -> Iterator[tuple[Image.Image, int, int]]:
    """(upright grayscale frame, its dpi, number of frames) for each frame."""
    try:
        with warnings.catch_warnings():
            # Pillow warns between 89 and 179 megapixels and refuses above: both are bombs to us.
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            image = Image.open(io.BytesIO(data))
            image.load()
            total = min(getattr(image, "n_frames", 1), _MAX_FRAMES)
            for index, frame in enumerate(ImageSequence.Iterator(image)):
                if index >= _MAX_FRAMES:
                    raise DocumentTooLargeError(f"image has more than {_MAX_FRAMES} pages")
                dpi = frame.info.get("dpi", (_DEFAULT_DPI, _DEFAULT_DPI))[0]
                # Phones store the camera's rotation in EXIF; Tesseract reads upright text only.
                upright = (ImageOps.exif_transpose(frame) or frame).convert("L")
                yield upright, int(dpi) if dpi and dpi >= 70 else _DEFAULT_DPI, total
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise DocumentTooLargeError("image is too large (over 89 megapixels)") from exc
    except (UnidentifiedImageError, OSError, ValueError, EOFError) as exc:
        raise CorruptDocumentError(f"unreadable image: {type(exc).__name__}") from exc
