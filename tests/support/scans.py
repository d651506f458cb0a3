"""Scans the tests and the OCR benchmark generate: text drawn as pixels, with no text layer."""

from __future__ import annotations

import io
import textwrap
from pathlib import Path

from fpdf import FPDF
from PIL import Image, ImageDraw, ImageFont
from rapidfuzz.distance import Levenshtein

A4_INCHES = (8.27, 11.69)
_MARGIN_INCHES = 0.8


def render_pages(text: str, font: Path, dpi: int, point_size: int = 12) -> list[Image.Image]:
    """``text`` drawn on white A4 pages at ``dpi``, as a scanner would deliver them (grayscale)."""
    width, height = int(A4_INCHES[0] * dpi), int(A4_INCHES[1] * dpi)
    face = ImageFont.truetype(str(font), round(point_size * dpi / 72))
    margin = int(_MARGIN_INCHES * dpi)
    # Wrap by measured width: the line must fit between the margins.
    average = face.getlength("абвгдежзиклмнопрстуфхцчшщэюя ") / 29
    chars_per_line = int((width - 2 * margin) / average)
    line_height = int(face.size * 1.45)
    pages: list[Image.Image] = []
    y = height  # start a page at the first line
    for paragraph in text.split("\n"):
        for line in textwrap.wrap(paragraph, chars_per_line) or [""]:
            if y + line_height > height - margin:
                pages.append(Image.new("L", (width, height), 255))
                y = margin
            ImageDraw.Draw(pages[-1]).text((margin, y), line, font=face, fill=0)
            y += line_height
    return pages


def render_page(text: str, font: Path, dpi: int, point_size: int = 12) -> Image.Image:
    """``text`` drawn on one white A4 page (it must fit on one)."""
    pages = render_pages(text, font, dpi, point_size)
    assert len(pages) == 1, f"{len(text)} characters do not fit on one page"
    return pages[0]


def image_pdf(pages: list[Image.Image | str], font: Path, dpi: int) -> bytes:
    """A PDF whose pages are images (scans) or, for a str, ordinary text (a text layer)."""
    pdf = FPDF(format="A4")
    pdf.add_font("Cyr", fname=str(font))
    pdf.set_font("Cyr", size=12)
    for page in pages:
        pdf.add_page()
        if isinstance(page, str):
            pdf.multi_cell(0, 8, page, new_x="LMARGIN", new_y="NEXT")
        else:
            pdf.image(page, x=0, y=0, w=pdf.w, h=pdf.h)
    return bytes(pdf.output())


def image_bytes(pages: list[Image.Image], image_format: str, dpi: int) -> bytes:
    """PNG or JPEG of the first page, or a TIFF holding every page."""
    buffer = io.BytesIO()
    first, *rest = pages
    if image_format == "TIFF":
        first.save(buffer, "TIFF", save_all=True, append_images=rest, dpi=(dpi, dpi), compression="tiff_lzw")
    else:
        first.save(
            buffer, image_format, dpi=(dpi, dpi), **({"quality": 90} if image_format == "JPEG" else {})
        )
    return buffer.getvalue()


def character_error_rate(recognised: str, reference: str) -> float:
    """Levenshtein distance / reference length, whitespace runs counted as one space (line breaks
    in a scan are layout, not content)."""
    hypothesis, truth = " ".join(recognised.split()), " ".join(reference.split())
    return Levenshtein.distance(hypothesis, truth) / max(1, len(truth))
