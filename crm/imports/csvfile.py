"""CSV text to rows: the delimiter detected (or chosen), quoted newlines kept.

clevercsv detects the dialect from a sample; the stdlib ``csv`` module does
the parsing, which keeps newlines and delimiters inside quoted values.
"""

import codecs
import csv
import io
import logging
import re
from dataclasses import dataclass
from pathlib import Path

from clevercsv import Detector
from flask_babel import gettext as _

from crm.core.csvsafe import FORMULA_STARTS
from crm.imports.reading import ReadError

log = logging.getLogger(__name__)

DELIMITERS = (",", ";", "\t", "|")
DELIMITER_NAMES = {",": "comma", ";": "semicolon", "\t": "tab", "|": "pipe"}
_SAMPLE_CHARS = 32_000
# Excel's first line naming the delimiter: sep=; (quoted by some writers).
_SEP_LINE = re.compile(r'"?sep=([,;\t|])"?[ \t]*(?:\r\n|\r|\n)', re.IGNORECASE)


def sep_line(text: str) -> tuple[str | None, int]:
    """The delimiter a "sep=" first line names and that line's length in characters."""
    match = _SEP_LINE.match(text)
    if match is None:
        return None, 0
    return match.group(1), match.end()


@dataclass
class CsvFile:
    text: str
    delimiter: str
    headers: list[str]
    body_start: int  # character offset of the first data row

    def records(self, start_offset: int | None = None):
        """(row number, cells, end offset) per record after the header.

        Row numbers count records as a spreadsheet shows them: the header is
        row 1. ``start_offset`` resumes at a position returned earlier (the
        row number is then counted from that point by the caller).
        """
        stream = io.StringIO(self.text, newline="")
        stream.seek(self.body_start if start_offset is None else start_offset)
        reader = csv.reader(stream, delimiter=self.delimiter, strict=False)
        while True:
            try:
                cells = next(reader)
            except StopIteration:
                return
            yield cells, stream.tell()

    def raw(self, start: int, end: int) -> str:
        """The text of the file between two offsets."""
        return self.text[start:end]

    @property
    def end(self) -> int:
        return len(self.text)


@dataclass
class StreamedCsv:
    """A CSV file read from disk a line at a time, so memory stays flat.

    The same rows as ``CsvFile`` over the whole decoded text; offsets are
    byte offsets into the file.
    """

    path: Path
    encoding: str
    delimiter: str
    headers: list[str]
    body_start: int  # byte offset of the first data row

    def records(self, start_offset: int | None = None):
        """(cells, end offset) per record after the header."""
        with self.path.open("rb") as handle:
            lines = _Lines(handle, self.encoding, start_offset or self.body_start)
            reader = csv.reader(lines, delimiter=self.delimiter, strict=False)
            for cells in reader:
                yield cells, lines.offset

    def raw(self, start: int, end: int) -> str:
        """The text of the file between two byte offsets."""
        with self.path.open("rb") as handle:
            handle.seek(start)
            return handle.read(end - start).decode(self.encoding, errors="replace")

    @property
    def end(self) -> int:
        return self.path.stat().st_size


# A quoted value that runs over more lines than this is taken for one whose
# closing quote is missing.
MAX_VALUE_LINES = 1000


def open_quote_problem(cells: list[str], raw, at_end: bool, delimiter: str):
    """Why the record seems to hold a quote that was never closed, or None.

    ``raw`` gives the record's text. Without a closing quote the CSV reader
    takes the rest of the file into one value; such a record is not imported.
    """
    lines = max((c.count("\n") + c.count("\r") for c in cells), default=0)
    if lines > MAX_VALUE_LINES:
        return "lines", lines
    if not at_end:
        return None
    text = raw()
    if text.count('"') % 2 == 0:
        return None
    stream = io.StringIO(text, newline="")
    try:
        for _cells in csv.reader(stream, delimiter=delimiter, strict=True):
            pass
    except csv.Error as exc:
        if "unexpected end of data" in str(exc):
            return "end", text.count("\n")
    return None


# A carriage return not followed by a line feed ends a line too, as it does
# for the in-memory reader (io.StringIO with newline="").
_LONE_CR = re.compile(r"(?<=\r)(?!\n|$)")


class _Lines:
    """The decoded lines of a binary file from a byte offset, endings kept."""

    def __init__(self, handle, encoding: str, start: int):
        handle.seek(start)
        self.handle = handle
        self.offset = start
        self.encoding = encoding
        self.decoder = codecs.getincrementaldecoder(encoding)()
        self.pending: list[str] = []

    def __iter__(self):
        return self

    def __next__(self) -> str:
        if self.pending:
            line = self.pending.pop()
            self.offset += len(line.encode(self.encoding))
            return line
        raw = self.handle.readline()
        if not raw:
            raise StopIteration
        line = self.decoder.decode(raw)
        if line.count("\r") > line.endswith("\r\n"):
            parts = _LONE_CR.split(line)
            if len(parts) > 1:
                self.pending = parts[:0:-1]
                line = parts[0]
                self.offset += len(line.encode(self.encoding))
                return line
        self.offset += len(raw)
        return line


def open_streamed(path: Path, encoding: str, head: str, delimiter=None):
    """Like ``open_csv`` for a file read from disk; ``head`` is its first text."""
    if delimiter and delimiter not in DELIMITERS:
        raise ReadError(_("Choose a comma, semicolon, tab or pipe as the delimiter."))
    named, skip = sep_line(head)
    delimiter = delimiter or named or detect_delimiter(head[skip:])
    size = path.stat().st_size
    if csv.field_size_limit() < size + 1:
        csv.field_size_limit(size + 1)

    headers, body_start = None, 0
    with path.open("rb") as handle:
        start = _bom_length(handle, encoding) + len(head[:skip].encode(encoding))
        lines = _Lines(handle, encoding, start)
        reader = csv.reader(lines, delimiter=delimiter, strict=False)
        try:
            for cells in reader:
                if any(c.strip() for c in cells):
                    headers = [c.strip() for c in cells]
                    body_start = lines.offset
                    break
        except csv.Error as exc:
            raise ReadError(
                _("The file cannot be read as CSV: %(reason)s", reason=str(exc))
            ) from None
    if headers is None:
        raise ReadError(_("The file is empty."))
    csv_file = StreamedCsv(path, encoding, delimiter, headers, body_start)
    for cells, _end in csv_file.records():
        if any(c.strip() for c in cells):
            return csv_file
    raise ReadError(_("The file has a header row but no contacts below it."))


def _bom_length(handle, encoding: str) -> int:
    handle.seek(0)
    start = handle.read(len(codecs.BOM_UTF8))
    return len(codecs.BOM_UTF8) if start == codecs.BOM_UTF8 else 0


def restore_cell(text: str) -> str:
    """The cell as it was before our CSV export neutralised it.

    The export (crm/core/csvsafe.py) puts an apostrophe in front of a cell
    that begins like a formula; exactly that apostrophe is taken off again.
    Any other cell, including one that merely begins with an apostrophe, is
    returned as it is.
    """
    if text.startswith("'") and text[1:2] and text[1] in FORMULA_STARTS:
        return text[1:]
    return text


def detect_delimiter(text: str) -> str:
    """The delimiter of the CSV text: clevercsv's answer, checked, or a count."""
    sample = _sample(text)
    try:
        dialect = Detector().detect(sample, delimiters=list(DELIMITERS))
    except Exception as exc:  # the detector gives up on some inputs; count instead
        # A handled case: one line, and the traceback only at debug level.
        log.info("clevercsv could not detect the dialect: %s", exc)
        log.debug("clevercsv failure", exc_info=True)
        dialect = None
    if dialect is not None and dialect.delimiter in DELIMITERS:
        return dialect.delimiter
    return _count_delimiter(sample)


def _sample(text: str) -> str:
    if len(text) <= _SAMPLE_CHARS:
        return text
    cut = text.rfind("\n", 0, _SAMPLE_CHARS)
    return text[: cut if cut > 0 else _SAMPLE_CHARS]


def _count_delimiter(sample: str) -> str:
    """The delimiter that gives the most columns, the same number in each row."""
    best, best_score = ",", 0
    for delimiter in DELIMITERS:
        rows = list(csv.reader(io.StringIO(sample, newline=""), delimiter=delimiter))
        widths = [len(r) for r in rows[:50] if r]
        if not widths or widths[0] < 2:
            continue
        consistent = sum(1 for w in widths if w == widths[0])
        score = widths[0] * consistent
        if score > best_score:
            best, best_score = delimiter, score
    return best


def open_csv(text: str, delimiter: str | None = None) -> CsvFile:
    """Read the header row; ReadError when there is none or no data follows."""
    if csv.field_size_limit() < len(text) + 1:
        # A single quoted note may be long; the file size limit still applies.
        csv.field_size_limit(len(text) + 1)
    if delimiter and delimiter not in DELIMITERS:
        raise ReadError(_("Choose a comma, semicolon, tab or pipe as the delimiter."))
    named, skip = sep_line(text)
    delimiter = delimiter or named or detect_delimiter(text[skip:])

    stream = io.StringIO(text, newline="")
    stream.seek(skip)
    reader = csv.reader(stream, delimiter=delimiter, strict=False)
    headers = None
    try:
        for cells in reader:
            if any(c.strip() for c in cells):
                headers = [c.strip() for c in cells]
                break
    except csv.Error as exc:
        raise ReadError(
            _("The file cannot be read as CSV: %(reason)s", reason=str(exc))
        ) from None
    if headers is None:
        raise ReadError(_("The file is empty."))
    body_start = stream.tell()
    csv_file = CsvFile(text, delimiter, headers, body_start)
    for cells, _end in csv_file.records():
        if any(c.strip() for c in cells):
            return csv_file
    raise ReadError(_("The file has a header row but no contacts below it."))
