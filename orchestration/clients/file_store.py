"""Files delivered to a local folder, an S3 prefix or a GCS prefix: listed and fetched.

A location is a URI: an absolute folder path, `s3://bucket/prefix` or `gs://bucket/prefix`.
Everything below it is listed (folders are searched recursively, a prefix is a folder), and a
file is a candidate when its path below the location matches one of the location's glob
patterns (`*` also crosses folders, so `*.csv` finds `2026-11/export.csv`).

Each listed file carries a `version` that changes whenever its content may have: the S3 ETag,
the GCS generation and hash, or a local file's size and modification time. A collector that
remembers versions can skip an unchanged remote file without downloading it.

Credentials are each SDK's own: boto3's chain (`AWS_*` variables, profiles, instance roles)
and Google's application default credentials (`GOOGLE_APPLICATION_CREDENTIALS`). Listing needs
`s3:ListBucket` or `storage.objects.list`, fetching `s3:GetObject` or `storage.objects.get`.
"""

import fnmatch
import functools
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import dagster as dg

from orchestration.collectors.http import SourceError

DEFAULT_PATTERNS = ("*.csv", "*.csv.gz", "*.parquet")


class LocationError(SourceError):
    """A location cannot be listed or a file in it cannot be fetched; the message says why."""


class FileLocation(dg.Config):
    """One place files are delivered to, and how to read what is there."""

    uri: str
    patterns: list[str] = list(DEFAULT_PATTERNS)
    endpoint_url: str | None = None
    region: str | None = None
    options: dict[str, str] = {}
    """Settings for the collector that reads the files (a FOCUS version, a provider name)."""

    @property
    def scheme(self) -> str:
        """`s3`, `gs` or `file`."""
        scheme, sep, _ = self.uri.partition("://")
        return scheme if sep and scheme != "file" else "file"

    @property
    def bucket(self) -> str:
        return self.uri.partition("://")[2].split("/", 1)[0]

    @property
    def prefix(self) -> str:
        """The key prefix below the bucket, as a folder: empty or ending in `/`."""
        rest = self.uri.partition("://")[2].split("/", 1)
        prefix = rest[1].strip("/") if len(rest) > 1 else ""
        return f"{prefix}/" if prefix else ""

    @property
    def folder(self) -> Path:
        path = self.uri.partition("://")[2] if self.uri.startswith("file://") else self.uri
        return Path(path).expanduser()

    def matches(self, name: str) -> bool:
        return any(fnmatch.fnmatchcase(name, pattern) for pattern in self.patterns)


@dataclass(frozen=True)
class StoredFile:
    """A file found at a location: where it is, and a version token of its content."""

    location: FileLocation
    uri: str
    name: str
    """The path below the location, e.g. `2026-11/export-00001.csv.gz`."""
    size: int
    version: str


class FileStore(dg.ConfigurableResource):
    """The locations a file collector reads, each a folder, an S3 prefix or a GCS prefix."""

    locations: list[FileLocation] = []

    def list_files(self, location: FileLocation) -> list[StoredFile]:
        """The files at `location` that match its patterns, in name order."""
        lister = {"file": _list_local, "s3": _list_s3, "gs": _list_gcs}[location.scheme]
        try:
            files = [file for file in lister(location) if location.matches(file.name)]
        except LocationError:
            raise
        except Exception as error:  # each SDK has its own error types; the message is kept
            raise LocationError(f"{location.uri}: cannot be listed: {_describe(error)}") from None
        return sorted(files, key=lambda file: file.name)

    def fetch(self, file: StoredFile, folder: Path) -> Path:
        """A local path holding `file`'s content: the file itself, or a download into `folder`.

        Downloads go to disk, never to memory, so a file of any size is fetched in flat memory.
        """
        location = file.location
        if location.scheme == "file":
            return location.folder / file.name
        target = folder / Path(file.name).name
        try:
            if location.scheme == "s3":
                key = location.prefix + file.name
                s3 = _s3_client(location.endpoint_url, location.region)
                s3.download_file(location.bucket, key, str(target))
            else:
                blob = _gcs_client().bucket(location.bucket).blob(location.prefix + file.name)
                blob.download_to_filename(str(target))
        except Exception as error:
            raise LocationError(f"{file.uri}: cannot be fetched: {_describe(error)}") from None
        return target


def _list_local(location: FileLocation) -> Iterator[StoredFile]:
    root = location.folder
    if not root.is_dir():
        raise LocationError(f"{location.uri}: no such folder")
    for dirpath, _, filenames in os.walk(root):
        for filename in filenames:
            path = Path(dirpath) / filename
            stat = path.stat()
            yield StoredFile(
                location=location,
                uri=path.resolve().as_uri(),
                name=path.relative_to(root).as_posix(),
                size=stat.st_size,
                version=f"{stat.st_size}:{stat.st_mtime_ns}",
            )


def _list_s3(location: FileLocation) -> Iterator[StoredFile]:
    s3 = _s3_client(location.endpoint_url, location.region)
    paginator = s3.get_paginator("list_objects_v2")
    for page in paginator.paginate(Bucket=location.bucket, Prefix=location.prefix):
        for item in page.get("Contents", []):
            key = item["Key"]
            if key.endswith("/"):
                continue  # a folder marker the console creates
            yield StoredFile(
                location=location,
                uri=f"s3://{location.bucket}/{key}",
                name=key[len(location.prefix) :],
                size=int(item["Size"]),
                version=f"{item['ETag'].strip(chr(34))}:{item['Size']}",
            )


def _list_gcs(location: FileLocation) -> Iterator[StoredFile]:
    for blob in _gcs_client().list_blobs(location.bucket, prefix=location.prefix):
        if blob.name.endswith("/"):
            continue
        yield StoredFile(
            location=location,
            uri=f"gs://{location.bucket}/{blob.name}",
            name=blob.name[len(location.prefix) :],
            size=int(blob.size or 0),
            version=f"{blob.generation}:{blob.md5_hash or blob.crc32c}",
        )


@functools.cache
def _s3_client(endpoint_url: str | None, region: str | None) -> Any:
    # One client per endpoint for the process: boto3 clients are thread-safe, and creating
    # one costs tens of milliseconds, which a location of many files would pay per file.
    import boto3

    return boto3.client("s3", endpoint_url=endpoint_url, region_name=region)


def _gcs_client() -> Any:
    # STORAGE_EMULATOR_HOST, when set, points the library at an emulator without credentials;
    # it is part of the cache key so that a change of it takes effect.
    return _gcs_client_for(os.environ.get("STORAGE_EMULATOR_HOST"))


@functools.cache
def _gcs_client_for(emulator_host: str | None) -> Any:
    del emulator_host  # read by the library itself
    from google.cloud import storage

    return storage.Client()


def _describe(error: Exception) -> str:
    """An SDK error as one line, without request headers (which may hold signatures)."""
    text = str(error).strip().splitlines()
    return f"{type(error).__name__}: {text[0] if text else ''}".rstrip(": ")
