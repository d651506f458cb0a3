"""Documents the tests and benchmarks generate: PDFs with Cyrillic text need a font that has it."""

from __future__ import annotations

import importlib.util
import site
import sysconfig
from pathlib import Path

from fpdf import FPDF

_SYSTEM_DEJAVU = Path("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf")


def _site_dirs() -> list[Path]:
    dirs = {*site.getsitepackages(), sysconfig.get_paths()["purelib"]}
    return sorted(Path(d) for d in dirs if Path(d).is_dir())


def find_cyrillic_font() -> Path:
    """A TTF with Cyrillic glyphs: the system DejaVu, else one shipped in a package."""
    if _SYSTEM_DEJAVU.is_file():
        return _SYSTEM_DEJAVU
    for directory in _site_dirs():
        # matplotlib's copy is the usual one; the walk catches any other package.
        known = directory / "matplotlib" / "mpl-data" / "fonts" / "ttf" / "DejaVuSans.ttf"
        if known.is_file():
            return known
        found = sorted(directory.rglob("DejaVuSans.ttf"))
        if found:
            return found[0]
    # The PyPI package font-roboto (sdist, no dependencies) bundles Roboto, which covers Cyrillic.
    spec = importlib.util.find_spec("font_roboto")
    if spec is not None and spec.origin is not None:
        roboto = Path(spec.origin).parent / "files" / "Roboto-Regular.ttf"
        if roboto.is_file():
            return roboto
    raise FileNotFoundError(
        "No TTF font with Cyrillic glyphs found for generated PDFs: install Debian's "
        "fonts-dejavu-core (gives /usr/share/fonts/truetype/dejavu/DejaVuSans.ttf) "
        "or the PyPI package font-roboto."
    )


def make_pdf(font: Path, pages: list[str], title: str | None = None) -> bytes:
    pdf = FPDF()
    pdf.add_font("Cyr", fname=str(font))
    pdf.set_font("Cyr", size=12)
    if title is not None:
        pdf.set_title(title)
    for text in pages:
        pdf.add_page()
        pdf.multi_cell(0, 8, text, new_x="LMARGIN", new_y="NEXT")
    return bytes(pdf.output())
