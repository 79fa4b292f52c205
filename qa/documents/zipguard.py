"""Office files are ZIP archives: their sizes are checked before anything is unpacked, so a zip bomb costs a
directory listing, not the machine's memory."""

from __future__ import annotations

import zipfile
from pathlib import Path

from qa.documents.model import UnreadableFile

MAX_UNPACKED_BYTES = 512 * 2**20  # all members together, as the archive declares them
MAX_RATIO = 200  # a member's unpacked/packed size; real Office XML compresses 5-30x
_RATIO_FLOOR = 2**20  # members smaller than this unpacked are never a danger, whatever their ratio


def check(path: Path, required: str, what: str) -> None:
    """Raise UnreadableFile unless path is a ZIP with member `required`, of sane total size and ratios."""
    try:
        with zipfile.ZipFile(path) as archive:
            members = archive.infolist()
    except (zipfile.BadZipFile, OSError) as exc:
        raise UnreadableFile(f"{path}: not a readable {what} file (a damaged archive: {exc}); re-save it") from None
    names = {member.filename for member in members}
    if required not in names:
        raise UnreadableFile(f"{path}: not a {what} file (no {required} inside); check that the extension is right")
    total = sum(member.file_size for member in members)
    if total > MAX_UNPACKED_BYTES:
        raise UnreadableFile(f"{path}: unpacks to {total / 2**20:.0f} MB, more than the "
                             f"{MAX_UNPACKED_BYTES // 2**20} MB allowed; split the file")
    for member in members:
        if member.file_size > _RATIO_FLOOR and member.file_size > MAX_RATIO * max(member.compress_size, 1):
            raise UnreadableFile(f"{path}: {member.filename} unpacks {member.file_size // max(member.compress_size, 1)}"
                                 f"x its packed size (a zip bomb?); more than {MAX_RATIO}x is refused")
