"""Bytes to text: byte order marks, UTF-16 without one, cp1252 and Latin-1 fallbacks, line ends; binary files
refused with what they are."""

from __future__ import annotations

import codecs

from workbench.data.formats.problems import FormatError

_BOMS = (
    (codecs.BOM_UTF32_LE, "utf-32"),
    (codecs.BOM_UTF32_BE, "utf-32"),
    (codecs.BOM_UTF8, "utf-8-sig"),
    (codecs.BOM_UTF16_LE, "utf-16"),
    (codecs.BOM_UTF16_BE, "utf-16"),
)

# Files that are not text at all, by their first bytes: what they are, and what to do.
_SIGNATURES = (
    (b"PK\x03\x04", "a ZIP archive", "unzip it and import the file inside"),
    (b"PK\x05\x06", "an empty ZIP archive", "unzip it and import the file inside"),
    (b"\x1f\x8b", "gzip-compressed", "decompress it first (gunzip FILE)"),
    (b"BZh", "bzip2-compressed", "decompress it first (bunzip2 FILE)"),
    (b"\xfd7zXZ\x00", "xz-compressed", "decompress it first (unxz FILE)"),
    (b"7z\xbc\xaf\x27\x1c", "a 7-Zip archive", "extract it and import the file inside"),
    (b"\x89PNG", "a PNG image", "import a JSONL, JSON, CSV, TSV or Parquet file"),
    (b"\xff\xd8\xff", "a JPEG image", "import a JSONL, JSON, CSV, TSV or Parquet file"),
    (b"%PDF-", "a PDF document", "import a JSONL, JSON, CSV, TSV or Parquet file"),
)


def decode(data: bytes, file: str) -> tuple[str, str, list[str]]:
    """The text of a file, the encoding it was read with, and notes on what was done to read it."""
    _refuse_non_text(data, file)
    text, encoding, notes = _decode_bytes(data, file)
    text, line_notes = _normalise_line_ends(text)
    return text, encoding, notes + line_notes


def _refuse_non_text(data: bytes, file: str) -> None:
    for signature, what, fix in _SIGNATURES:
        if data.startswith(signature):
            raise FormatError(f"{file} is {what}, not a dataset file: {fix}.")
    if any(data.startswith(bom) for bom, _ in _BOMS) or _utf16_without_bom(data):
        return
    nul = data.find(b"\x00")
    if nul >= 0:
        line = data.count(b"\n", 0, nul) + 1
        raise FormatError(
            f"{file}:{line}: encoding: a NUL byte (offset {nul}): this is a binary file, or text saved in an "
            "encoding with zero bytes; save it as UTF-8 text."
        )


def _decode_bytes(data: bytes, file: str) -> tuple[str, str, list[str]]:
    for bom, encoding in _BOMS:
        if data.startswith(bom):
            return _decode_with_bom(data, encoding)
    guessed = _utf16_without_bom(data)
    if guessed:
        text = data.decode(guessed, errors="replace")
        note = f"decoded as {guessed.upper()}: no byte order mark, guessed from the zero bytes"
        return text, guessed, [note]
    try:
        return data.decode("utf-8"), "utf-8", []
    except UnicodeDecodeError as exc:
        where = f"byte 0x{data[exc.start]:02x} at offset {exc.start}"
        if _has_utf8_characters(data):
            line = data.count(b"\n", 0, exc.start) + 1
            raise FormatError(
                f"{file}:{line}: encoding: not valid UTF-8 ({where}), while other characters of the file are "
                f"UTF-8: it mixes encodings. Retype the accented characters of line {line} and save the file as "
                "UTF-8."
            ) from exc
    advice = "check accented characters, and save the file as UTF-8 to be sure"
    try:
        return data.decode("cp1252"), "cp1252", [f"decoded as cp1252: not valid UTF-8 ({where}); {advice}"]
    except UnicodeDecodeError:
        return (
            data.decode("latin-1"),
            "latin-1",
            [f"decoded as latin-1: neither valid UTF-8 ({where}) nor cp1252; {advice}"],
        )


def _has_utf8_characters(data: bytes) -> bool:
    """Whether some non-ASCII bytes form valid UTF-8 characters (a Latin-1 file's accents almost never do)."""
    text = data.decode("utf-8", errors="replace")
    return any(ord(ch) > 127 and ch != "\ufffd" for ch in text)


def _decode_with_bom(data: bytes, encoding: str) -> tuple[str, str, list[str]]:
    label = {"utf-8-sig": "UTF-8", "utf-16": "UTF-16", "utf-32": "UTF-32"}[encoding]
    notes = [
        "UTF-8 byte order mark (BOM) removed"
        if label == "UTF-8"
        else f"decoded as {label} (byte order mark found and removed)"
    ]
    try:
        return data.decode(encoding), encoding, notes
    except UnicodeDecodeError:
        notes.append(f"some bytes are not valid {label} and were replaced with '\ufffd'")
        return data.decode(encoding, errors="replace"), encoding, notes


def _utf16_without_bom(data: bytes) -> str | None:
    """Mostly-ASCII UTF-16 text has a zero in every other byte; UTF-8 text has none."""
    sample = data[:4096]
    if len(sample) < 4 or 0 not in sample:
        return None
    half = len(sample) // 2
    even_zeros, odd_zeros = sample[0::2].count(0), sample[1::2].count(0)
    if odd_zeros >= 0.3 * half and even_zeros <= 0.05 * half:
        return "utf-16-le"
    if even_zeros >= 0.3 * half and odd_zeros <= 0.05 * half:
        return "utf-16-be"
    return None


def _normalise_line_ends(text: str) -> tuple[str, list[str]]:
    notes = []
    if "\r\n" in text:
        notes.append("CRLF (Windows) line ends converted to LF")
        text = text.replace("\r\n", "\n")
    if "\r" in text:
        notes.append("CR line ends converted to LF")
        text = text.replace("\r", "\n")
    return text, notes
