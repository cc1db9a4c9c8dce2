"""Getting a dataset's files over HTTP(S), for the download stage.

A source URL is checked before anything is written (http or https, a host, no spaces or control
characters, a plain file name at its end); an optional ``#sha256=<hex>`` suffix carries its checksum.
Each URL has its own cache folder, named by a digest of the whole URL (``url_key``), so two URLs that
end in the same file name never share a file, a checksum or a partial download. ``fetch`` streams into
``<file>.part`` and, after a cut connection, asks for the rest with an HTTP Range header (several
attempts per call; the ``.part`` file survives for the next call), then renames it to its name.
``fetch_verified`` reuses a cached file whose sha256 matches and deletes one that does not. A host that
cannot be reached is named as such, not reported as an incomplete download.
"""
from __future__ import annotations

import hashlib
import http.client
import logging
import os
import re
import socket
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

from pmtiqa.core.checksum import sha256_file
from pmtiqa.core.errors import UserError
from pmtiqa.core.progress import progress_bar

log = logging.getLogger(__name__)

CHUNK = 1 << 20
ATTEMPTS = 5  # per call; a later call resumes from the .part file
TIMEOUT_S = 60


# -- URLs ------------------------------------------------------------------------------------------

def is_url(source: str) -> bool:
    return re.match(r"^[A-Za-z][A-Za-z0-9+.-]*://", source) is not None


def split_checksum(source: str) -> tuple[str, str | None]:
    """'URL#sha256=HEX' -> (URL, HEX); a plain URL -> (URL, None)."""
    url, _, fragment = source.partition("#")
    if not fragment.startswith("sha256="):
        return source, None
    digest = fragment.removeprefix("sha256=").lower()
    if not re.fullmatch(r"[0-9a-f]{64}", digest):
        raise UserError(f"{source}: the checksum after '#sha256=' must be 64 hex digits, not {digest!r}")
    return url, digest


def check_url(url: str) -> None:
    """Stop with the URL named unless it is an http(s) URL that urllib can request as it is."""
    try:
        parts = urllib.parse.urlsplit(url)
        parts.port  # noqa: B018 - raises on a port that is not a number in range
    except ValueError as err:
        raise UserError(f"{url}: not a valid URL ({err})") from None
    if parts.scheme.lower() not in ("http", "https"):
        raise UserError(f"{url}: only http and https URLs are fetched (give a local file or folder as its path)")
    if not parts.hostname:
        raise UserError(f"{url}: the URL names no host")
    if re.search(r"[\x00-\x20\x7f]", url):
        raise UserError(f"{url!r}: a URL cannot hold spaces or control characters (percent-encode them)")
    file_name(url)


def url_key(url: str) -> str:
    """The cache folder of one URL: a digest of the whole URL, so that equal file names never meet."""
    return hashlib.sha256(url.encode()).hexdigest()[:16]


def file_name(url: str) -> str:
    """The name a URL's file is stored under: its last path segment, decoded, if that is a plain name.

    The segment is split off before decoding, so that %2F cannot smuggle in a folder and
    %2E%2E cannot name the parent folder.
    """
    segment = urllib.parse.urlsplit(url).path.rpartition("/")[2]
    name = urllib.parse.unquote(segment)
    if not name:
        return "download"
    if name.startswith(".") or re.search(r"[/\\\x00-\x1f\x7f]", name) or len(name.encode()) > 200:
        raise UserError(f"{url}: its file name {name!r} is not a plain file name")
    return name


# -- fetching --------------------------------------------------------------------------------------

def fetch_verified(url: str, target: Path, expected: str | None) -> str:
    """Fetch ``url`` to ``target`` unless a verified copy is there; return its sha256."""
    if target.is_file():
        digest = sha256_file(target)
        if expected is None or digest == expected:
            log.info("%s: reusing %s (sha256 %s)", url, target, digest[:12])
            return digest
        log.warning("%s: sha256 %s, expected %s: fetching it again", target, digest, expected)
        target.unlink()
    fetch(url, target)
    digest = sha256_file(target)
    if expected is not None and digest != expected:
        target.unlink()
        raise UserError(f"{url}: checksum mismatch: sha256 {digest}, expected {expected}; "
                        f"the file was deleted")
    return digest


def fetch(url: str, target: Path, attempts: int | None = None) -> None:
    """Stream ``url`` into ``target`` via ``target.part``, resuming with HTTP Range after a cut."""
    attempts = attempts or ATTEMPTS  # read at call time, so that the module's setting applies
    target.parent.mkdir(parents=True, exist_ok=True)
    part = target.with_name(target.name + ".part")
    total, last_error = None, None
    for attempt in range(attempts):
        have = part.stat().st_size if part.exists() else 0
        try:
            total = _fetch_once(url, part, have)
        except urllib.error.HTTPError as err:
            if err.code == 416 and have and _range_total(err.headers.get("Content-Range")) == have:
                total = have  # the .part file already holds everything
            elif err.code >= 500:
                last_error = err
                _pause(attempt)
                continue
            else:
                raise UserError(f"{url}: HTTP {err.code} {err.reason}") from None
        except (urllib.error.URLError, http.client.HTTPException, OSError) as err:
            if _name_does_not_resolve(err):  # no retry: offline, or a name that will not resolve later either
                raise _unreachable(url, f"its name does not resolve: {_reason(err.reason)}") from None
            last_error = err
            _pause(attempt)
            continue
        size = part.stat().st_size if part.exists() else 0
        if total is None or size == total:
            os.replace(part, target)
            return
        if size > total:
            part.unlink()
            last_error = f"got {size} bytes, more than the announced {total}"
        else:
            last_error = f"connection closed after {size} of {total} bytes"
    raise _gave_up(url, part, attempts, last_error)


def _fetch_once(url: str, part: Path, have: int) -> int | None:
    """One request; append to ``part`` (or restart it); return the full size when announced."""
    headers = {"User-Agent": "pmtiqa-download", **({"Range": f"bytes={have}-"} if have else {})}
    with urllib.request.urlopen(urllib.request.Request(url, headers=headers), timeout=TIMEOUT_S) as response:
        status = response.status or 200
        if status == 206:
            if _range_start(response.headers.get("Content-Range")) != have:
                part.unlink(missing_ok=True)  # not the range we asked for: start over next attempt
                raise http.client.HTTPException(f"unexpected Content-Range {response.headers.get('Content-Range')!r}")
            total = _range_total(response.headers.get("Content-Range"))
            mode = "ab"
        else:  # a full response: the server ignored the Range, or none was asked
            length = response.headers.get("Content-Length")
            total = int(length) if length and length.isdigit() else None
            have, mode = 0, "wb"
        with open(part, mode) as out, progress_bar(total=total, initial=have, unit="B", unit_scale=True,
                                                   unit_divisor=1024, desc=part.name.removesuffix(".part"),
                                                   mininterval=1.0) as bar:
            while chunk := response.read(CHUNK):
                out.write(chunk)
                bar.update(len(chunk))
    return total


def _range_start(header: str | None) -> int | None:
    match = re.match(r"bytes (\d+)-\d+/(\d+|\*)", header or "")
    return int(match[1]) if match else None


def _range_total(header: str | None) -> int | None:
    match = re.match(r"bytes (?:\d+-\d+|\*)/(\d+)", header or "")
    return int(match[1]) if match else None


def _pause(attempt: int) -> None:
    time.sleep(min(0.5 * attempt, 5.0))


# -- what to say when it fails ---------------------------------------------------------------------

def _gave_up(url: str, part: Path, attempts: int, last_error) -> UserError:
    """The error after the last attempt: the host was never reached, or the download is incomplete."""
    have = part.stat().st_size if part.exists() else 0
    kept = f"; {have} bytes kept in {part}: run the same command again to resume" if have else ""
    if _never_connected(last_error):
        return _unreachable(url, f"{_reason(last_error.reason)}, {attempts} attempts", kept)
    return UserError(f"{url}: download incomplete after {attempts} attempts ({last_error}); {have} bytes kept "
                     f"in {part}: run the same command again to resume")


def _unreachable(url: str, why: str, kept: str = "") -> UserError:
    return UserError(f"{url}: cannot reach the host {_host(url)!r} ({why}): offline, or a wrong URL? check the "
                     f"network and the URL, or give a local copy of the file with --source{kept}")


def _reason(err: OSError) -> str:
    """'Connection refused', not '[Errno 111] Connection refused'; a timeout's 'timed out' as it is."""
    return err.strerror or str(err)


def _never_connected(err) -> bool:
    """urllib wraps the errors of connecting (refused, unreachable, timed out) in a plain URLError."""
    return (isinstance(err, urllib.error.URLError) and not isinstance(err, urllib.error.HTTPError)
            and isinstance(err.reason, OSError))


def _name_does_not_resolve(err: Exception) -> bool:
    return isinstance(err, urllib.error.URLError) and isinstance(err.reason, socket.gaierror)


def _host(url: str) -> str:
    return urllib.parse.urlsplit(url).hostname or url
