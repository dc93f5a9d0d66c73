"""Where pages come from on disk: files, folders, JSONL of RawPage, and WARC archives.

``read_pages`` yields a :class:`RawPage` for each page, or a :class:`DeadLetter` saying which
file (and line or record) could not be read and why, so a run goes on with the rest. No input is
read whole into memory beyond ``max_page_bytes`` (plus a line's worth for JSONL): an oversized
file, line or record is rejected from a prefix.
"""

from __future__ import annotations

import gzip
import logging
import zlib
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any, cast

from pydantic import ValidationError

from schemas.deadletter import DeadLetter, Reason
from schemas.pages import RawPage
from streams.decode import check_size, decode_body, parse_raw_json
from streams.errors import RejectedPage

log = logging.getLogger(__name__)

TEXT_SUFFIXES = frozenset({".txt", ".text"})
HTML_SUFFIXES = frozenset({".html", ".htm", ".xhtml"})
JSONL_SUFFIXES = frozenset({".jsonl", ".ndjson", ".jsonl.gz", ".ndjson.gz"})
WARC_SUFFIXES = frozenset({".warc", ".warc.gz"})
SUPPORTED = TEXT_SUFFIXES | HTML_SUFFIXES | JSONL_SUFFIXES | WARC_SUFFIXES | {".json"}
# A compressed file that is truncated or corrupt fails with these (OSError covers BadGzipFile).
_CORRUPT = (EOFError, zlib.error)


def _suffix(path: Path) -> str:
    suffixes = [s.lower() for s in path.suffixes[-2:]]
    joined = "".join(suffixes)
    return joined if joined in SUPPORTED else (suffixes[-1] if suffixes else "")


def _reject(original: bytes | str, reason: Reason, error: str, source: str, size: int | None = None) -> DeadLetter:
    """A dead letter of the ingest stage; ``size`` is the input's full size when only a prefix was read."""
    letter = DeadLetter.of(original, stage="ingest", error_type=reason, error=_one_line(error), source=source)
    if size is not None and size > letter.original_size:
        letter = letter.model_copy(update={"original_size": size, "truncated": True})
    return letter


def _one_line(message: str, limit: int = 500) -> str:
    """A message on one bounded line: error texts of libraries may span lines or quote input."""
    flat = " ".join(message.split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


def expand(paths: Iterable[Path]) -> Iterator[Path]:
    """Files named, and the supported files inside folders named (sorted, hidden ones skipped)."""
    for path in paths:
        if path.is_dir():
            for child in sorted(path.rglob("*")):
                hidden = any(part.startswith(".") for part in child.relative_to(path).parts)
                if child.is_file() and not hidden and _suffix(child) in SUPPORTED:
                    yield child
        else:
            yield path


def read_pages(paths: Iterable[Path], max_page_bytes: int) -> Iterator[RawPage | DeadLetter]:
    """Every page in ``paths``, in order; unreadable input as dead letters, never an exception.

    A file that fails part-way (a truncated ``.gz``, a corrupt WARC) keeps the pages read before
    the failure and adds one dead letter for the rest. An unexpected error (a bug) is logged once
    per kind and dead-lettered as ``INTERNAL_ERROR``, so one file cannot stop a run.
    """
    warned: set[str] = set()
    for path in expand(paths):
        source = str(path)
        suffix = _suffix(path)
        if not path.exists():
            yield _reject(b"", Reason.UNREADABLE, "no such file or folder", source)
            continue
        if suffix not in SUPPORTED:
            yield _reject(b"", Reason.UNSUPPORTED_INPUT,
                          "unsupported file type (use .txt, .html, .jsonl, .json, .warc or .warc.gz)", source)
            continue
        try:
            if suffix in JSONL_SUFFIXES:
                yield from _read_jsonl(path, max_page_bytes)
            elif suffix in WARC_SUFFIXES:
                yield from _read_warc(path, max_page_bytes)
            else:
                yield _read_file(path, suffix, max_page_bytes)
        except OSError as exc:
            yield _reject(b"", Reason.UNREADABLE, f"cannot read: {exc.strerror or exc}", source)
        except _CORRUPT as exc:
            yield _reject(b"", Reason.UNREADABLE, f"truncated or corrupt compressed data: {exc}", source)
        except Exception as exc:
            yield _unexpected(exc, b"", source, warned)


def _unexpected(exc: Exception, original: bytes, source: str, warned: set[str]) -> DeadLetter:
    """Dead-letter input that raised an unexpected error; log its traceback once per kind."""
    kind = type(exc).__name__
    if kind not in warned:
        warned.add(kind)
        log.error("internal error reading %s", source, exc_info=exc)
    return _reject(original, Reason.INTERNAL_ERROR, f"{kind}: {exc}", source)


def _read_file(path: Path, suffix: str, max_page_bytes: int) -> RawPage | DeadLetter:
    source = str(path)
    stat = path.stat()
    if stat.st_size > max_page_bytes:
        with path.open("rb") as handle:
            head = handle.read(4096)
        return _reject(head, Reason.TOO_LARGE,
                       f"{stat.st_size} bytes exceeds limits.max_page_bytes={max_page_bytes}", source, stat.st_size)
    with path.open("rb") as handle:  # bounded even where the size says nothing (/dev/zero, a pipe)
        data = handle.read(max_page_bytes + 1)
    if len(data) > max_page_bytes:
        return _reject(data[:4096], Reason.TOO_LARGE, f"more than limits.max_page_bytes={max_page_bytes} bytes",
                       source, len(data))
    try:
        if suffix == ".json":
            text, _ = decode_body(data)
            page = parse_raw_json(text)
            check_size(page, max_page_bytes)
            return page if page.source else page.model_copy(update={"source": source})
        html = suffix in HTML_SUFFIXES
        body, encoding = decode_body(data, html=html)
    except RejectedPage as exc:
        return _reject(data, exc.reason, exc.message, source)
    return RawPage(
        content_type="text/html" if html else "text/plain",
        body=body,
        source=source,
        fetched_at=datetime.fromtimestamp(stat.st_mtime, UTC),
        meta={"encoding": encoding},
    )


def _open_text_lines(path: Path) -> IO[bytes]:
    if path.name.lower().endswith(".gz"):
        return cast(IO[bytes], gzip.open(path, "rb"))
    return path.open("rb")


def _bounded_lines(handle: IO[bytes], limit: int) -> Iterator[tuple[bytes, int]]:
    """The lines of ``handle``, each cut to ``limit + 1`` bytes, with its full length.

    The rest of a line longer than ``limit`` is read in chunks and dropped, so one endless line
    cannot fill memory.
    """
    while True:
        line = handle.readline(limit + 1)
        if not line:
            return
        size = len(line)
        if size > limit and not line.endswith(b"\n"):
            while True:
                rest = handle.readline(1 << 20)
                size += len(rest)
                if not rest or rest.endswith(b"\n"):
                    break
        yield line, size


def _read_jsonl(path: Path, max_page_bytes: int) -> Iterator[RawPage | DeadLetter]:
    warned: set[str] = set()
    with _open_text_lines(path) as handle:
        for number, (line, size) in enumerate(_bounded_lines(handle, max_page_bytes), start=1):
            source = f"{path}:{number}"
            if not line.strip():
                continue
            try:
                if size > max_page_bytes:
                    raise RejectedPage(Reason.TOO_LARGE,
                                       f"{size} bytes exceeds limits.max_page_bytes={max_page_bytes}")
                try:
                    text = line.decode("utf-8-sig")  # a byte-order mark may start a line (a file)
                except UnicodeDecodeError as exc:
                    raise RejectedPage(Reason.BAD_ENCODING, f"line is not UTF-8: {exc}") from None
                page = parse_raw_json(text)
                check_size(page, max_page_bytes)
            except RejectedPage as exc:
                yield _reject(line, exc.reason, exc.message, source, size)
                continue
            except Exception as exc:  # a bug met by one line must not lose the rest of the file
                yield _unexpected(exc, line, source, warned)
                continue
            yield page if page.source else page.model_copy(update={"source": source})


def _read_warc(path: Path, max_page_bytes: int) -> Iterator[RawPage | DeadLetter]:
    from warcio.archiveiterator import ArchiveIterator  # noqa: PLC0415 - only WARC input needs it

    warned: set[str] = set()
    with path.open("rb") as handle:
        records = iter(ArchiveIterator(handle))
        number = 0
        while True:
            try:
                record = next(records)
            except StopIteration:
                return
            except (OSError, *_CORRUPT):
                raise
            except Exception as exc:  # warcio met a malformed record: the rest cannot be framed
                yield _reject(b"", Reason.UNREADABLE,
                              f"malformed WARC archive after record {number}: {type(exc).__name__}: {exc}",
                              f"{path}#{number + 1}")
                return
            number += 1
            if record.rec_type not in ("response", "resource"):
                continue
            source = f"{path}#{number}"
            try:
                page = _warc_page(record, source, max_page_bytes)
            except ValidationError as exc:
                page = _reject(b"", Reason.NOT_A_RAW_PAGE, f"WARC record: {exc.errors()[0]['msg']}", source)
            except (OSError, *_CORRUPT):
                raise
            except Exception as exc:
                page = _unexpected(exc, b"", source, warned)
            if page is not None:
                yield page


def _warc_page(record: Any, source: str, max_page_bytes: int) -> RawPage | DeadLetter | None:
    headers = record.http_headers if record.rec_type == "response" else None
    content_type = (headers.get_header("Content-Type") if headers else None) or \
        record.rec_headers.get_header("Content-Type") or ""
    mime, _, params = content_type.partition(";")
    mime = mime.strip().lower()
    if mime not in ("text/html", "application/xhtml+xml", "text/plain"):
        return None  # images, scripts and the like are not pages
    charset = None
    for param in params.split(";"):
        name, _, value = param.partition("=")
        if name.strip().lower() == "charset":
            charset = value.strip()
    data = record.content_stream().read(max_page_bytes + 1)
    if len(data) > max_page_bytes:
        return _reject(data[:4096], Reason.TOO_LARGE, f"record exceeds limits.max_page_bytes={max_page_bytes}",
                       source, len(data))
    html = mime != "text/plain"
    try:
        body, encoding = decode_body(data, charset, html=html)
    except RejectedPage as exc:
        return _reject(data, exc.reason, exc.message, source)
    fetched_at = _warc_date(record.rec_headers.get_header("WARC-Date")) or datetime.now(UTC)
    return RawPage(
        url=record.rec_headers.get_header("WARC-Target-URI"),
        content_type="text/html" if html else "text/plain",
        body=body,
        source=source,
        fetched_at=fetched_at,
        meta={"encoding": encoding},
    )


def _warc_date(value: str | None) -> datetime | None:
    """A WARC-Date as an aware datetime; None when missing or malformed."""
    if not value:
        return None
    try:
        parsed = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
