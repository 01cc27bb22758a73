"""Claim documents: what may be uploaded (checked by content, not by name) and where it is kept.

``DocumentStore`` is the storage interface; ``LocalDocumentStore`` keeps files in a directory (the
embedded default, ``<instance>/documents``, one server's disk); ``object_store.S3DocumentStore``
keeps them in S3-compatible object storage (MinIO, Aliyun OSS, Tencent COS) shared by every app
server. Keys come from ``new_document_key``: random, and free of anything about the person.
"""

from __future__ import annotations

import io
import os
import re
import secrets
import tempfile
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from PIL import Image

from huiminbao.core.config import DEFAULT_INSTANCE_DIR, Settings
from huiminbao.core.errors import RemoteUnavailable

MAX_DOCUMENT_BYTES = 10 * 1024 * 1024
_KEY_SHAPE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*(/[A-Za-z0-9][A-Za-z0-9._-]*)*$")


class DocumentStoreUnavailable(RemoteUnavailable):
    """The document store did not answer (or refused the call): nothing is known to be stored.
    A request meeting it answers 503 with ``Retry-After``, never 500."""


class DocumentStore(Protocol):
    def put(self, key: str, data: bytes, content_type: str) -> None:
        """Store ``data`` under ``key`` (replacing nothing: keys are new and unique);
        ``content_type`` is the type sniffed from the content, never the client's word.
        ``DocumentStoreUnavailable`` when the store cannot be reached."""
        ...

    def get(self, key: str) -> bytes:
        """The stored bytes; ``KeyError`` when there are none, ``DocumentStoreUnavailable``
        when the store cannot be reached."""
        ...

    def delete(self, key: str) -> None:
        """Remove the object if it exists; ``DocumentStoreUnavailable`` when the store cannot
        be reached."""
        ...


def new_document_key(extension: str) -> str:
    """A key nobody can guess or read anything from: 192 random bits, no claim number, ID
    number or name (an object store's listings and access logs show keys)."""
    if not re.fullmatch(r"[a-z0-9]{1,8}", extension):
        raise ValueError("unsafe document extension")
    return f"claims/{secrets.token_hex(24)}.{extension}"


class LocalDocumentStore:
    """Files under one directory; keys are relative paths of safe characters only."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def _path(self, key: str) -> Path:
        if not _KEY_SHAPE.match(key) or ".." in key:
            raise ValueError("unsafe document key")
        return self.root / key

    def put(self, key: str, data: bytes, content_type: str) -> None:
        del content_type  # a file's type is its sniffed content, recorded with the document
        path = self._path(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        # Written aside, then renamed: a reader never sees half a file.
        fd, temporary = tempfile.mkstemp(dir=path.parent, prefix=".upload-")
        try:
            with os.fdopen(fd, "wb") as handle:
                handle.write(data)
            os.replace(temporary, path)
        except BaseException:
            Path(temporary).unlink(missing_ok=True)
            raise

    def get(self, key: str) -> bytes:
        path = self._path(key)
        try:
            return path.read_bytes()
        except FileNotFoundError as exc:
            raise KeyError(key) from exc

    def delete(self, key: str) -> None:
        self._path(key).unlink(missing_ok=True)


def documents_dir(settings: Settings) -> Path:
    """``extra["documents_dir"]`` when set; else next to a SQLite database file (so each test's
    database gets its own directory); else ``<instance>/documents``."""
    configured = settings.extra.get("documents_dir")
    if configured:
        return Path(str(configured))
    prefix = "sqlite:///"
    if settings.database_url.startswith(prefix):
        database = settings.database_url[len(prefix):]
        if database and database != ":memory:":
            return Path(database).parent / "documents"
    return DEFAULT_INSTANCE_DIR / "documents"


# ---------------------------------------------------------------- accepted types


@dataclass(frozen=True)
class DocumentType:
    content_type: str
    extension: str
    label: str


PDF = DocumentType("application/pdf", "pdf", "PDF")
JPEG = DocumentType("image/jpeg", "jpg", "JPG")
PNG = DocumentType("image/png", "png", "PNG")
_MAGIC: tuple[tuple[bytes, DocumentType], ...] = (
    (b"%PDF-", PDF),
    (b"\xff\xd8\xff", JPEG),
    (b"\x89PNG\r\n\x1a\n", PNG),
)
_EXTENSIONS = {"pdf": PDF, "jpg": JPEG, "jpeg": JPEG, "png": PNG}

NOT_A_DOCUMENT = ("文件内容不是有效的 PDF、JPG 或 PNG 文件，无法上传。"
                  "请上传发票、费用清单等材料的照片或 PDF 文件")
EMPTY_DOCUMENT = "上传的文件是空的，请重新选择文件"
TOO_LARGE = "单个文件不能超过10MB，请压缩后重新上传"


class UnacceptableDocument(ValueError):
    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


def sniff(data: bytes) -> DocumentType | None:
    return next((kind for magic, kind in _MAGIC if data.startswith(magic)), None)


# What follows a document must not be something else: a PNG header followed by HTML, or
# ``%PDF-`` followed by a web page, would pass a check of the first bytes (a polyglot).
_PNG_END = b"IEND\xaeB`\x82"
_PDF_END = b"%%EOF"
_PDF_TAIL_BYTES = 1024  # %%EOF sits at the very end, give or take trailing white space
_MARKUP = re.compile(rb"<\s*(?:html|script|body|iframe|svg|object|embed)\b|javascript:",
                     re.IGNORECASE)


def _whole(kind: DocumentType, data: bytes) -> bool:
    """The file is one whole document of its kind. Images are decoded completely by Pillow and
    must end where their format ends; a PDF must end with its trailer and carry no markup."""
    if kind is PDF:
        return _PDF_END in data[-_PDF_TAIL_BYTES:] and not _MARKUP.search(data)
    ending = _PNG_END if kind is PNG else b"\xff\xd9"
    if not data.rstrip(b"\x00\r\n ").endswith(ending):
        return False
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data)) as image:
                image.verify()  # structure and checksums
            with Image.open(io.BytesIO(data)) as image:
                image.load()  # every pixel decodes
    except (OSError, ValueError, SyntaxError, Image.DecompressionBombWarning,
            Image.DecompressionBombError):
        return False
    return True


def check_document(filename: str, data: bytes) -> DocumentType:
    """The document's type, judged by its content; a name that promises another type (a
    ``.pdf`` that is not a PDF) is refused too."""
    if not data:
        raise UnacceptableDocument(EMPTY_DOCUMENT)
    if len(data) > MAX_DOCUMENT_BYTES:
        raise UnacceptableDocument(TOO_LARGE)
    kind = sniff(data)
    extension = filename.rsplit(".", 1)[-1].lower() if "." in filename else ""
    claimed = _EXTENSIONS.get(extension)
    if kind is None:
        if claimed is not None:
            raise UnacceptableDocument(
                f"文件“{safe_filename(filename)}”的内容不是有效的 {claimed.label} 文件，"
                "无法上传。请上传发票、费用清单等材料的照片或 PDF 文件")
        raise UnacceptableDocument(NOT_A_DOCUMENT)
    if claimed is not None and claimed is not kind:
        raise UnacceptableDocument(
            f"文件“{safe_filename(filename)}”的扩展名与内容不符（内容为 {kind.label}），"
            "请检查后重新上传")
    if not _whole(kind, data):
        raise UnacceptableDocument(
            f"文件“{safe_filename(filename)}”不是完整的 {kind.label} 文件"
            "（可能已损坏，或夹带了其他内容），无法上传。请重新拍照或导出后上传")
    return kind


_UNSAFE_NAME_CHARS = re.compile(r"[\x00-\x1f\x7f/\\\"<>:|?*]")


def safe_filename(filename: str) -> str:
    """A display name without path parts or control characters, at most 100 characters."""
    name = filename.replace("\\", "/").rsplit("/", 1)[-1]
    name = _UNSAFE_NAME_CHARS.sub("_", name).strip(" .")
    return name[-100:] or "document"
