"""Encrypted deliverables: a directory packed as a tar stream and encrypted to an age recipient.

The tar stream is produced by a thread into a pipe and encrypted by pyrage's
``encrypt_io`` as it is read, so neither the tar nor any plaintext copy is
ever written: memory stays at a few age chunks (64 KiB) whatever the size.
Opening runs the same way backwards and unpacks into a staging directory
inside the output directory, moved into place only when age has authenticated
the whole stream (age detects a truncated or altered file only at its end).

>>> import tempfile
>>> work = Path(tempfile.mkdtemp())
>>> identity = keygen(work / "key.txt")
>>> (work / "out").mkdir(); _ = (work / "out" / "Patient.ndjson").write_text("{}\\n")
>>> sealed = encrypt_directory(work / "out", identity)
>>> sealed.name
'out.tar.age'
>>> sorted(p.name for p in open_delivery(sealed, work / "key.txt", work / "opened").iterdir())
['Patient.ndjson']
"""

from __future__ import annotations

import os
import shutil
import tarfile
import tempfile
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import BinaryIO

import pyrage
from pyrage import x25519

from airlock.errors import AirlockError

__all__ = ["EncryptedWriter", "encrypt_directory", "keygen", "open_delivery", "recipient"]


def keygen(out: Path) -> str:
    """Write a new age identity file (mode 0600, refuses to overwrite); returns its public recipient."""
    identity = x25519.Identity.generate()
    recipient = str(identity.to_public())
    text = f"# created: {datetime.now(UTC).isoformat(timespec='seconds')}\n# public key: {recipient}\n{identity}\n"
    try:
        fd = os.open(out, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        raise AirlockError(f"{out}: already exists; choose another file for the new identity") from None
    with os.fdopen(fd, "w") as fh:
        fh.write(text)
    return recipient


def recipient(text: str) -> x25519.Recipient:
    try:
        return x25519.Recipient.from_str(text.strip())
    except pyrage.RecipientError:
        raise AirlockError("the age recipient is not valid; it starts with 'age1' (see 'airlock delivery keygen')") from None


class EncryptedWriter:
    """A text file written straight into age encryption: ``path`` only ever holds ciphertext.

    The text goes through an OS pipe to a thread running pyrage's ``encrypt_io``; ``close()`` ends the
    stream and waits for the last age chunk to be written.
    """

    def __init__(self, path: Path, to: str):
        self._sink = os.fdopen(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600), "wb")
        read_fd, write_fd = os.pipe()
        self._errors: list[BaseException] = []
        recipients = [recipient(to)]

        def run() -> None:
            try:
                with os.fdopen(read_fd, "rb") as pipe:
                    pyrage.encrypt_io(pipe, self._sink, recipients)
            except BaseException as e:  # re-raised by close()
                self._errors.append(e)

        self._thread = threading.Thread(target=run, daemon=True)
        self._thread.start()
        self._text = os.fdopen(write_fd, "w", encoding="utf-8")

    def write(self, text: str) -> int:
        return self._text.write(text)

    def close(self) -> None:
        if self._text.closed:
            return
        self._text.close()
        self._thread.join()
        self._sink.close()
        if self._errors:
            raise AirlockError(f"{self._sink.name}: encrypting the delivery failed ({type(self._errors[0]).__name__})")


def encrypt_directory(src_dir: Path, recipient_text: str, out: Path | None = None) -> Path:
    """Pack ``src_dir`` into ``<src_dir>.tar.age`` (or ``out``), encrypted to the age recipient."""
    src_dir = Path(src_dir)
    if not src_dir.is_dir():
        raise AirlockError(f"{src_dir}: not a directory; give the delivery directory to encrypt")
    to = recipient(recipient_text)
    out = Path(out) if out is not None else src_dir.with_name(src_dir.name + ".tar.age")

    def pack(pipe: BinaryIO) -> None:
        with tarfile.open(fileobj=pipe, mode="w|") as tar:
            tar.add(src_dir, arcname=".", filter=_owner_free)

    fd = os.open(out, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as sink:
        try:
            _through_pipe(pack, lambda pipe: pyrage.encrypt_io(pipe, sink, [to]))
        except BaseException:
            out.unlink(missing_ok=True)
            raise
    return out


def open_delivery(path: Path, identity_file: Path, out_dir: Path) -> Path:
    """Decrypt and unpack a delivery into ``out_dir`` (created if needed); returns ``out_dir``.

    A delivery is a ``.tar.age`` file, or a directory whose ``*.age`` files (a FHIR target's output) are each
    decrypted to the same relative path without ``.age``; other files (the manifest) are copied.
    """
    path, out_dir = Path(path), Path(out_dir)
    identities = _identities(identity_file)
    with _unpacked_into(out_dir) as staging:
        if path.is_dir():
            _decrypt_directory(path, identities, identity_file, staging)
        else:
            _decrypt_archive(path, identities, identity_file, staging)
    return out_dir


@contextmanager
def _unpacked_into(out_dir: Path) -> Iterator[Path]:
    """A staging directory inside ``out_dir``; what it holds moves into ``out_dir`` only if the block succeeds."""
    try:
        out_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        staging = Path(tempfile.mkdtemp(prefix=".airlock-delivery-", dir=out_dir))
    except OSError as e:
        raise AirlockError(f"{out_dir}: cannot unpack the delivery ({e.strerror}); check space and permissions") from None
    try:
        yield staging
        for item in staging.iterdir():
            item.rename(out_dir / item.name)
    except OSError as e:
        raise AirlockError(f"{out_dir}: cannot unpack the delivery ({e.strerror}); check space and permissions") from None
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def _decrypt_archive(path: Path, identities: list[x25519.Identity], identity_file: Path, staging: Path) -> None:
    with path.open("rb") as source:

        def unpack(pipe: BinaryIO) -> None:
            with tarfile.open(fileobj=pipe, mode="r|") as tar:
                tar.extractall(staging, filter="data")  # refuses absolute paths, '..', devices

        def decrypt(pipe: BinaryIO) -> None:
            try:
                pyrage.decrypt_io(source, pipe, identities)
            except BrokenPipeError:
                raise
            except OSError:  # pyrage reports a bad tag or a truncation inside the stream as OSError
                raise pyrage.DecryptError("stream") from None

        try:
            _through_pipe(decrypt, unpack)
        except (pyrage.DecryptError, tarfile.TarError):
            raise AirlockError(
                f"{path}: cannot open this delivery with {identity_file} (not encrypted to this identity, "
                "or the file is damaged or truncated); ask the sender which recipient they used"
            ) from None


def _decrypt_directory(path: Path, identities: list[x25519.Identity], identity_file: Path, staging: Path) -> None:
    for item in sorted(path.rglob("*")):
        if not item.is_file():
            continue
        relative = item.relative_to(path)
        target = staging / (relative.with_suffix("") if item.suffix == ".age" else relative)
        target.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        if item.suffix != ".age":
            shutil.copyfile(item, target)
            continue
        with item.open("rb") as source, os.fdopen(os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600), "wb") as sink:
            try:
                pyrage.decrypt_io(source, sink, identities)
            except (pyrage.DecryptError, OSError):
                raise AirlockError(
                    f"{item}: cannot open it with {identity_file} (not encrypted to this identity, or damaged); "
                    "ask the sender which recipient they used"
                ) from None


def _identities(identity_file: Path) -> list[x25519.Identity]:
    try:
        lines = Path(identity_file).read_text().splitlines()
        found = [x25519.Identity.from_str(l.strip()) for l in lines if l.strip() and not l.startswith("#")]
    except (OSError, pyrage.IdentityError, ValueError):
        found = []
    if not found:
        raise AirlockError(f"{identity_file}: no age identity in it; give the key file made by 'airlock delivery keygen'")
    return found


def _owner_free(info: tarfile.TarInfo) -> tarfile.TarInfo:
    # The processor's user and group names are of no use to the recipient.
    info.uid = info.gid = 0
    info.uname = info.gname = ""
    return info


def _through_pipe(
    producer: Callable[[BinaryIO], None], consumer: Callable[[BinaryIO], None]
) -> None:
    """Run ``producer`` (writing) in a thread and ``consumer`` (reading) here, joined by an OS pipe.

    A consumer that fails closes its end, so a blocked producer fails too (broken pipe)
    instead of hanging; the original error is raised, not the broken pipe.
    """
    read_fd, write_fd = os.pipe()
    errors: list[BaseException] = []

    def run() -> None:
        try:
            with os.fdopen(write_fd, "wb") as pipe:
                producer(pipe)
        except BaseException as e:  # re-raised in the caller's thread below
            errors.append(e)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    try:
        with os.fdopen(read_fd, "rb") as pipe:
            consumer(pipe)
            while pipe.read(1 << 16):  # drain, so a producer writing trailing bytes can finish
                pass
    except BaseException as e:
        errors.append(e)
    thread.join()
    errors.sort(key=lambda e: isinstance(e, BrokenPipeError))  # stable: the cause first
    if errors:
        raise errors[0]
