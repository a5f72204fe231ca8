"""Build stamps: what each output of ``reproduce`` was made from, so that a rerun redoes
only what its inputs changed (as ``make`` and R's ``targets`` do, but by content, not by
file times, which a ``git checkout`` resets).

An output group (one figure's PNG, SVG and CSV; one notebook's executed copy and HTML)
is *up to date* when

* its key, a SHA-256 over everything it is made from, equals the key recorded when it
  was last made, and
* every file it wrote is still there with the bytes it was written with (and a file it
  removed is still absent), so an output edited or deleted by hand is made again.

The key (:func:`inputs_key`) covers every file of the data package (names and bytes)
and its folder, every source file of the ``analysis`` package, the pinned versions
(``requirements.lock``, ``pyproject.toml``), the Python version and the installed
versions of the libraries that compute and draw. A notebook's key adds the notebook's
own bytes. Anything not in the key that could change an output (a system font, say)
is what ``reproduce --force`` is for; a fresh clone has no stamps, so its first run
makes everything.

The stamps live in one JSON file (``build/reproduce-stamps.json``), written atomically;
two runs at once can at worst forget each other's stamps, which costs a rebuild, never
a wrong skip.
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
import tempfile
from importlib import metadata
from pathlib import Path

from analysis.paths import BUILD_DIR, PROJECT_ROOT

STAMPS_FILE = "reproduce-stamps.json"

#: Installed distributions whose version can change a figure, a table or a notebook.
LIBRARIES = ("numpy", "scipy", "pandas", "pyarrow", "statsmodels", "matplotlib",
             "matplotlib-inline", "pillow", "frictionless", "ipykernel", "ipython",
             "ipywidgets", "nbclient", "nbconvert", "nbformat")

#: Files outside ``analysis/`` and the data whose change must redo everything.
PROJECT_FILES = ("requirements.lock", "pyproject.toml")

_CHUNK = 1 << 20


def file_digest(path: Path) -> str | None:
    """SHA-256 of a file's bytes (hex), or None if there is no such file."""
    try:
        handle = open(path, "rb")
    except FileNotFoundError:
        return None
    digest = hashlib.sha256()
    with handle:
        for block in iter(lambda: handle.read(_CHUNK), b""):
            digest.update(block)
    return digest.hexdigest()


def _add_tree(digest, root: Path, pattern: str) -> None:
    root = Path(root)
    for path in sorted(p for p in root.rglob(pattern) if p.is_file()):
        if "__pycache__" in path.parts or ".ipynb_checkpoints" in path.parts:
            continue
        digest.update(path.relative_to(root).as_posix().encode("utf-8") + b"\0")
        digest.update((file_digest(path) or "").encode("ascii") + b"\0")


def inputs_key(data_dir: Path) -> str:
    """The key shared by every output made from ``data_dir`` with this code and these
    libraries (see the module's docstring for what it covers)."""
    digest = hashlib.sha256()
    data_dir = Path(data_dir).resolve()
    digest.update(f"data folder {data_dir}\0".encode("utf-8"))
    _add_tree(digest, data_dir, "*")
    digest.update(b"analysis\0")
    _add_tree(digest, PROJECT_ROOT / "analysis", "*.py")
    _add_tree(digest, PROJECT_ROOT / "analysis", "*.toml")
    for name in PROJECT_FILES:
        digest.update(f"{name}\0{file_digest(PROJECT_ROOT / name)}\0".encode("utf-8"))
    digest.update(f"python {sys.version}\0".encode("utf-8"))
    for name in LIBRARIES:
        try:
            version = metadata.version(name)
        except metadata.PackageNotFoundError:
            version = "absent"
        digest.update(f"{name} {version}\0".encode("utf-8"))
    return digest.hexdigest()


def item_key(base: str, *files: Path, extra: str = "") -> str:
    """``base`` extended with the bytes of ``files`` and the text ``extra``."""
    digest = hashlib.sha256(base.encode("ascii"))
    for path in files:
        digest.update((file_digest(Path(path)) or "absent").encode("ascii") + b"\0")
    digest.update(extra.encode("utf-8"))
    return digest.hexdigest()


def _still_there(entry) -> bool:
    """Whether any file of a stamp, or the folder of a file it recorded as absent, exists."""
    outputs = entry.get("outputs") if isinstance(entry, dict) else None
    if not isinstance(outputs, dict):
        return False
    return any(Path(path).exists() if digest is not None else Path(path).parent.is_dir()
               for path, digest in outputs.items())


class Stamps:
    """The recorded stamps of one build folder; :meth:`save` writes them back."""

    def __init__(self, build_dir: Path = BUILD_DIR):
        self.path = Path(build_dir) / STAMPS_FILE
        try:
            loaded = json.loads(self.path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            loaded = {}
        self.items: dict[str, dict] = loaded if isinstance(loaded, dict) else {}
        self._changed: dict[str, dict | None] = {}

    def up_to_date(self, item: str, key: str) -> bool:
        """Whether ``item`` was made with ``key`` and its files are as it left them."""
        record = self.items.get(item)
        if not isinstance(record, dict) or record.get("key") != key:
            return False
        outputs = record.get("outputs")
        if not isinstance(outputs, dict):
            return False
        return all(file_digest(Path(path)) == digest for path, digest in outputs.items())

    def record(self, item: str, key: str, outputs: list[Path],
               seconds: float | None = None) -> None:
        """Note that ``item`` was just made with ``key`` and now consists of ``outputs``
        (each path's current bytes, or its absence), in ``seconds`` (kept to start the
        longest first next time)."""
        entry = {"key": key,
                 "outputs": {str(Path(p).resolve()): file_digest(Path(p)) for p in outputs}}
        if seconds is not None:
            entry["seconds"] = round(float(seconds), 3)
        self.items[item] = entry
        self._changed[item] = entry

    def forget(self, item: str) -> None:
        """Drop ``item``'s stamp (it failed, or its files are no longer trusted)."""
        self.items.pop(item, None)
        self._changed[item] = None

    def save(self) -> None:
        """Merge this run's changes into the file (another run may have written it since)
        and replace it atomically."""
        if not self._changed:
            return
        current = Stamps(self.path.parent).items
        for item, entry in self._changed.items():
            if entry is None:
                current.pop(item, None)
            else:
                current[item] = entry
        # forget outputs whose folder is gone (a temporary folder, say), so the file
        # does not grow with every run on other data
        current = {item: entry for item, entry in current.items()
                   if item in self._changed or _still_there(entry)}
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=".stamps-", dir=self.path.parent)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as handle:
                json.dump(current, handle, indent=1, sort_keys=True)
            os.replace(tmp, self.path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        self.items = current
        self._changed = {}
