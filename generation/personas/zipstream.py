"""A ZIP archive written as a stream of bytes in constant memory, by the standard library's zipfile.

zipfile already writes to a file it cannot seek (each entry's CRC and sizes follow its data, in a
data descriptor), but it keeps a ZipInfo per entry, in `filelist` and `NameToInfo`, to write the
central directory at the end: about 1 KB an entry, some 490 MB for 100,000 personas with four
images each (docs/performance.md, persona_export). Here each entry's info goes to a temporary file
as the entry closes and comes back one at a time while zipfile writes the central directory, names
are not remembered (the caller gives unique ones), and what zipfile writes goes to a spool that the
caller drains after each write (to disk only while the central directory is written). The bytes
are zipfile's own: the archive is the one zipfile would have made with everything in memory.

No library was added for this: zipstream-ng and the like also keep every entry's info in memory, and
would change the bytes of the archive.
"""

from __future__ import annotations

import marshal
import struct
import tempfile
import zipfile
from collections.abc import Iterator

BLOCK = 64 * 1024
# Past this, the spool moves to disk: only the central directory (about 90 bytes an entry) gets there.
SPOOL_IN_MEMORY = 4 * BLOCK
_SLOTS = zipfile.ZipInfo.__slots__
_UNSET = ...  # a slot zipfile left unset (marshal writes Ellipsis, and no slot holds it)
_LENGTH = struct.Struct("<I")


class StreamSink:
    """A write-only file zipfile cannot seek in; `drain()` hands on what was written since the last."""

    def __init__(self) -> None:
        self._spool = tempfile.SpooledTemporaryFile(max_size=SPOOL_IN_MEMORY)  # noqa: SIM115 (closed by close())
        self._offset = 0

    def write(self, data) -> int:
        written = self._spool.write(data)
        self._offset += written
        return written

    def tell(self) -> int:
        return self._offset

    def flush(self) -> None:
        pass

    def drain(self) -> Iterator[bytes]:
        if not self._spool.tell():
            return
        self._spool.seek(0)
        while block := self._spool.read(BLOCK):
            yield block
        self._spool.seek(0)
        self._spool.truncate()

    def close(self) -> None:
        self._spool.close()


class _SpilledInfos:
    """`ZipFile.filelist` on disk: zipfile appends an entry's info when it closes, counts them and
    iterates over them once, for the central directory."""

    def __init__(self) -> None:
        self._file = tempfile.TemporaryFile()  # noqa: SIM115 (closed by close())
        self._count = 0

    def append(self, info: zipfile.ZipInfo) -> None:
        # marshal: a tuple of numbers, strings and bytes, three times as fast as pickle.
        data = marshal.dumps(tuple(getattr(info, slot, _UNSET) for slot in _SLOTS))
        self._file.write(_LENGTH.pack(len(data)) + data)
        self._count += 1

    def __len__(self) -> int:
        return self._count

    def __iter__(self) -> Iterator[zipfile.ZipInfo]:
        self._file.seek(0)
        for _ in range(self._count):
            (length,) = _LENGTH.unpack(self._file.read(_LENGTH.size))
            values = marshal.loads(self._file.read(length))  # noqa: S302 (our own temporary file)
            info = zipfile.ZipInfo.__new__(zipfile.ZipInfo)
            for slot, value in zip(_SLOTS, values, strict=True):
                if value is not _UNSET:
                    setattr(info, slot, value)
            yield info
        self._file.seek(0, 2)

    def close(self) -> None:
        self._file.close()


class _Unremembered(dict):
    """`ZipFile.NameToInfo` that forgets: zipfile only checks it to warn of a repeated name."""

    def __setitem__(self, key, value) -> None:
        pass


class StreamZip:
    """`with StreamZip() as stream:` `stream.archive` is a zipfile.ZipFile (deflated by default) writing
    into `stream.sink`: drain the sink after each write; `finish()` writes the central directory
    into it, to drain a last time. Leaving the block without `finish()` (an error, or the client
    went away) writes nothing more; leaving it either way removes the temporary files."""

    def __init__(self) -> None:
        self.sink = StreamSink()
        self.archive = zipfile.ZipFile(self.sink, mode="w", compression=zipfile.ZIP_DEFLATED, allowZip64=True)
        self._infos = _SpilledInfos()
        self.archive.filelist = self._infos
        self.archive.NameToInfo = _Unremembered()

    def finish(self) -> None:
        self.archive.close()

    def __enter__(self) -> StreamZip:
        return self

    def __exit__(self, exc_type, exc, traceback) -> None:
        self.archive.fp = None  # closed or abandoned: ZipFile.close() (and __del__) now write nothing
        self._infos.close()
        self.sink.close()
