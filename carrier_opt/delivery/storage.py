"""Where reports are kept (a local folder or S3) and how the database remembers them.

A :class:`ResultStore` takes bytes under a relative key and answers a URI (``file://...`` or
``s3://bucket/key``); :func:`record_result_file` writes that URI with the file's size and
SHA-256 into ``OptimizationInstanceResultFile``, so anyone can find and verify a report from
the database alone. Re-running a report for the same instance and file name replaces the row,
not duplicates it (the table is unique on instance and file name).
"""

from __future__ import annotations

import hashlib
import os
import re
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol, runtime_checkable
from urllib.parse import quote, unquote, urlsplit

from sqlalchemy import Connection, insert, select, update

from carrier_opt.db.models import OptimizationInstanceResultFile
from carrier_opt.db.types import utc_now
from carrier_opt.errors import ConfigurationError, InputError

OPTIMIZATION_REPORT = "optimization_report"
"""``report_kind`` of the Excel optimization report."""

_SAFE_SEGMENT = re.compile(r"[^A-Za-z0-9._-]+")


@runtime_checkable
class ResultStore(Protocol):
    """Somewhere to put report files; ``key`` is a relative, slash-separated path."""

    def put(self, key: str, content: bytes, content_type: str) -> str:
        """Store ``content`` under ``key`` (replacing what was there); answer its URI."""
        ...

    def get(self, uri: str) -> bytes:
        """The bytes stored at ``uri`` (as answered by :meth:`put`)."""
        ...

    def link(self, uri: str) -> str | None:
        """A URL a browser can open for ``uri``, or None when there is none."""
        ...

    def how_to_open(self, uri: str) -> str:
        """One sentence for the UI: where the file is and how to get it."""
        ...


@dataclass(frozen=True)
class StoredFile:
    """A stored report: where it is and how to check it is the one we wrote."""

    uri: str
    size: int
    sha256: str


def report_key(provider: str, period_key: str, instance_id: int, file_name: str) -> str:
    """``<provider>/<period>/instance-<id>/<file>``, each part made safe for paths and S3."""
    parts = [provider, period_key, f"instance-{int(instance_id)}", file_name]
    return "/".join(_safe_segment(part) for part in parts)


def report_file_name(
    provider: str, period_key: str, instance_id: int, scope: str | None = None
) -> str:
    """The optimization report's file name, e.g. ``acme_2026-03_instance-7_optimization.xlsx``;
    with a ``scope`` (a customer, an optimization group) it is named too:
    ``acme_2026-03_Customer_Acme_instance-8_optimization.xlsx``."""
    parts = [provider, period_key, *([scope] if scope else []), f"instance-{int(instance_id)}"]
    return _safe_segment("_".join(parts) + "_optimization.xlsx")


def _safe_segment(text: str) -> str:
    segment = _SAFE_SEGMENT.sub("_", str(text)).strip("._")
    if not segment:
        raise InputError(f"{text!r} cannot be used in a storage key")
    return segment


REPORTS_URL_ENV = "CARRIER_OPT_REPORTS_URL"
"""Address where the local reports folder is served (``make ui`` sets it)."""

PRESIGNED_SECONDS = 7 * 24 * 3600
"""Life of a presigned download link: SigV4's maximum, 7 days."""


class LocalResultStore:
    """Files under a local folder (the default: a laptop or a shared volume).

    Written through a temporary file and :func:`os.replace`, so a reader never sees half a
    workbook.
    """

    def __init__(self, folder: str | os.PathLike[str]) -> None:
        self.folder = Path(folder).expanduser().resolve()

    def __repr__(self) -> str:
        return f"LocalResultStore({str(self.folder)!r})"

    def put(self, key: str, content: bytes, content_type: str) -> str:
        """Write ``content`` to ``folder/key`` atomically; answer its ``file://`` URI."""
        path = self._path(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        handle, temp_name = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
        try:
            with os.fdopen(handle, "wb") as temp_file:
                temp_file.write(content)
                temp_file.flush()
                os.fsync(temp_file.fileno())
            # mkstemp creates 0600 files; a report is meant to be read by the team.
            os.chmod(temp_name, 0o644)
            os.replace(temp_name, path)
        except BaseException:
            Path(temp_name).unlink(missing_ok=True)
            raise
        return path.as_uri()

    def get(self, uri: str) -> bytes:
        """Read a file this store wrote."""
        parts = urlsplit(uri)
        if parts.scheme != "file":
            raise InputError(f"{uri!r} is not a file:// URI")
        return Path(unquote(parts.path)).read_bytes()

    def link(self, uri: str) -> str | None:
        """A URL a browser can open, when the folder is served over HTTP (``make ui`` serves
        the reports folder and sets ``CARRIER_OPT_REPORTS_URL``); else None: a ``file://``
        URI names a file on the machine that ran Dagster, which a browser elsewhere cannot
        open."""
        base = os.environ.get(REPORTS_URL_ENV, "").strip()
        parts = urlsplit(uri)
        if not base or parts.scheme != "file":
            return None
        path = Path(unquote(parts.path))
        if not path.is_relative_to(self.folder):
            return None
        return base.rstrip("/") + "/" + quote(path.relative_to(self.folder).as_posix())

    def how_to_open(self, uri: str) -> str:
        """One sentence saying where the file is and how to get it, for the UI: how to get a
        link only when there is none."""
        path = unquote(urlsplit(uri).path)
        link = self.link(uri)
        if link is not None:
            return (
                f"'report' opens the workbook while the reports folder ({self.folder}) is served "
                f"at {os.environ[REPORTS_URL_ENV].strip()} (make ui serves it); the file is "
                f"{path} on the machine that ran Dagster."
            )
        return (
            f"The workbook is a file on the machine that ran Dagster: {path}. Open it there, "
            f"copy it (scp), or serve the reports folder ({self.folder}) and set "
            f"{REPORTS_URL_ENV} to its address (make ui does both) for a link here."
        )

    def _path(self, key: str) -> Path:
        path = (self.folder / key).resolve()
        if not path.is_relative_to(self.folder) or path == self.folder:
            raise InputError(f"storage key {key!r} leaves the result folder")
        return path


class S3ResultStore:
    """Objects in an S3 bucket under ``prefix`` (a boto3 S3 client is passed in).

    The client carries its own credentials (instance role, environment); none pass through
    here, and none appear in ``repr``.
    """

    def __init__(self, bucket: str, prefix: str = "", client: Any = None) -> None:
        if not bucket:
            raise ConfigurationError("S3ResultStore needs a bucket name")
        if client is None:
            import boto3  # only needed when S3 is used

            client = boto3.client("s3")
        self.bucket = bucket
        self.prefix = prefix.strip("/")
        self._client = client

    def __repr__(self) -> str:
        return f"S3ResultStore(bucket={self.bucket!r}, prefix={self.prefix!r})"

    def put(self, key: str, content: bytes, content_type: str) -> str:
        """Upload ``content``; answer ``s3://bucket/prefix/key``."""
        object_key = f"{self.prefix}/{key}" if self.prefix else key
        self._client.put_object(
            Bucket=self.bucket,
            Key=object_key,
            Body=content,
            ContentType=content_type,
            ChecksumAlgorithm="SHA256",
        )
        return f"s3://{self.bucket}/{object_key}"

    def get(self, uri: str) -> bytes:
        """Download an object this store wrote."""
        parts = urlsplit(uri)
        if parts.scheme != "s3" or not parts.netloc:
            raise InputError(f"{uri!r} is not an s3:// URI")
        answer = self._client.get_object(Bucket=parts.netloc, Key=parts.path.lstrip("/"))
        return answer["Body"].read()

    def link(self, uri: str) -> str | None:
        """The object's page in the S3 console: a stable link that carries no credential
        (whoever opens it signs in with their own AWS account)."""
        parts = urlsplit(uri)
        if parts.scheme != "s3" or not parts.netloc:
            return None
        key = parts.path.lstrip("/")
        return (
            f"https://s3.console.aws.amazon.com/s3/object/{quote(parts.netloc)}"
            f"?prefix={quote(key, safe='')}"
        )

    def download_link(self, uri: str, expires_s: int = PRESIGNED_SECONDS) -> str:
        """A presigned GET URL of the object, valid ``expires_s`` seconds (SigV4 allows at
        most 7 days): a download without an AWS account, for as long as it lasts."""
        parts = urlsplit(uri)
        return self._client.generate_presigned_url(
            "get_object",
            Params={"Bucket": parts.netloc, "Key": parts.path.lstrip("/")},
            ExpiresIn=int(expires_s),
        )

    def how_to_open(self, uri: str) -> str:
        """One sentence saying where the object is and how to get it, for the UI."""
        days = PRESIGNED_SECONDS // 86400
        return (
            f"Stored in S3 as {uri}: 'report' opens it in the S3 console, 'download' is a "
            f"presigned link valid {days} days from the run."
        )


def store_file(store: ResultStore, key: str, content: bytes, content_type: str) -> StoredFile:
    """Put ``content`` in ``store`` and answer its URI, size and SHA-256."""
    uri = store.put(key, content, content_type)
    return StoredFile(uri=uri, size=len(content), sha256=hashlib.sha256(content).hexdigest())


def record_result_file(
    connection: Connection,
    instance_id: int,
    file_name: str,
    stored: StoredFile,
    *,
    kind: str,
    content_type: str,
) -> int:
    """Insert or replace the ``OptimizationInstanceResultFile`` row; answer its id.

    Runs in the caller's transaction. The content itself is not stored in the database (the
    URI points at it).
    """
    table = OptimizationInstanceResultFile.__table__
    values = {
        "report_kind": kind,
        "content_type": content_type,
        "content": None,
        "storage_uri": stored.uri,
        "size_bytes": stored.size,
        "sha256": stored.sha256,
    }
    existing = connection.scalar(
        select(table.c.id).where(
            table.c.optimization_instance_id == instance_id, table.c.file_name == file_name
        )
    )
    if existing is not None:
        connection.execute(
            update(table).where(table.c.id == existing).values(**values, modified_at=utc_now())
        )
        return int(existing)
    return int(
        connection.execute(
            insert(table).values(
                optimization_instance_id=instance_id,
                file_name=file_name,
                created_at=utc_now(),
                **values,
            )
        ).inserted_primary_key[0]
    )
