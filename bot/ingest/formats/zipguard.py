"""Refuse zip bombs and encrypted Office files before any library opens them.

DOCX, XLSX, PPTX and EPUB are zip archives. The checks read only the central
directory (no inflating), so a bomb is refused in milliseconds. Python's zipfile,
which mammoth, python-pptx, openpyxl and our EPUB reader all use, never returns
more than a member's declared size (ZipExtFile trims at ``file_size``, and a
lying size then fails the CRC check), so bounding the declared sizes bounds the
bytes actually inflated. ``read_member`` adds an explicit cap for our own reads.
"""

from __future__ import annotations

import io
import zipfile

from bot.ingest.document import CorruptDocumentError, PasswordProtectedError, UnsupportedFormatError

__all__ = [
    "MAX_MEMBERS",
    "MAX_RATIO",
    "MAX_UNPACKED_BYTES",
    "check_not_encrypted_office",
    "open_zip",
    "read_member",
]

# Real documents stay far below these: a 20 MB slide deck of photos unpacks to
# about 20 MB (images are stored already compressed), a 100k-row sheet to ~100 MB.
MAX_UNPACKED_BYTES = 256 * 1024 * 1024
MAX_MEMBERS = 10_000
# Office XML compresses 5-20x, a very repetitive sheet up to ~100x; a deflate
# bomb reaches ~1000x. Small members may have any ratio: they cannot hurt.
MAX_RATIO = 200
_RATIO_CHECK_FROM = 1024 * 1024

# OLE2/CFB: what Office writes for an encrypted .docx/.xlsx/.pptx (and for the
# legacy .doc/.xls/.ppt). Directory entry names are UTF-16 LE.
_OLE_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
_ENCRYPTED_PACKAGE = "EncryptedPackage".encode("utf-16-le")


def check_not_encrypted_office(data: bytes, label: str = "Office") -> None:
    """Office encrypts a .docx/.xlsx/.pptx by wrapping it in an OLE file with an EncryptedPackage stream."""
    if data.startswith(_OLE_MAGIC) and _ENCRYPTED_PACKAGE in data:
        raise PasswordProtectedError(f"password-protected {label} file")


def open_zip(data: bytes, kind: str) -> zipfile.ZipFile:
    """Open ``data`` as a zip after checking its directory for bombs; raises DocumentError."""
    check_not_encrypted_office(data, kind.upper())
    if data.startswith(_OLE_MAGIC):
        raise UnsupportedFormatError(
            f"legacy binary Office file named .{kind}; save it as .{kind} (Office 2007 or later)"
        )
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
    except (zipfile.BadZipFile, OSError, ValueError) as exc:
        raise CorruptDocumentError(f"not a valid {kind.upper()} (zip) file") from exc
    try:
        _check_directory(archive, kind)
    except BaseException:
        archive.close()
        raise
    return archive


def _check_directory(archive: zipfile.ZipFile, kind: str) -> None:
    members = archive.infolist()
    if len(members) > MAX_MEMBERS:
        raise CorruptDocumentError(f"{kind.upper()} holds {len(members)} files; refusing (zip bomb?)")
    total = 0
    for member in members:
        total += member.file_size
        if total > MAX_UNPACKED_BYTES:
            raise CorruptDocumentError(
                f"{kind.upper()} would unpack to more than {MAX_UNPACKED_BYTES // 2**20} MB; "
                "refusing (zip bomb?)"
            )
        if member.file_size > _RATIO_CHECK_FROM and member.file_size > MAX_RATIO * max(
            1, member.compress_size
        ):
            raise CorruptDocumentError(
                f"{kind.upper()} member {member.filename!r} is compressed "
                f"{member.file_size // max(1, member.compress_size)}:1; refusing (zip bomb?)"
            )


def read_member(archive: zipfile.ZipFile, name: str, limit: int = MAX_UNPACKED_BYTES) -> bytes:
    """Read one member, never inflating more than ``limit`` bytes whatever the directory says."""
    with archive.open(name) as member:
        data = member.read(limit + 1)
    if len(data) > limit:
        raise CorruptDocumentError(f"{name!r} unpacks to more than {limit // 2**20} MB; refusing")
    return data
