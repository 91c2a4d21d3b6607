"""Installed distributions' versions, read from the names of their ``.dist-info``
directories along ``sys.path``; :mod:`importlib.metadata` (8-20 ms: it pulls in
``email.*``) only when no such directory names the distribution."""

from __future__ import annotations

import os
import sys

__all__ = ["installed_version", "package_version"]


def package_version(name: str) -> str:
    """The installed version of the distribution ``name`` (``"unknown"`` when not installed)."""
    found = installed_version(name)
    return "unknown" if found is None else found


def installed_version(name: str) -> str | None:
    """The installed version of the distribution ``name``, as ``importlib.metadata.version``
    gives it; None when it is not installed."""
    found = _dist_info_version(name)
    if found is not None:
        return found
    import importlib.metadata

    try:
        return importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
        return None


def _dist_info_version(name: str) -> str | None:
    """The version in the name of ``name``'s ``.dist-info`` directory, first along
    ``sys.path`` as importlib.metadata finds it; None when there is none."""
    prefix = name.replace("-", "_").lower() + "-"
    for entry in sys.path:
        for n in _dist_infos(entry):
            if n.lower().startswith(prefix):
                return n[len(prefix) : -len(".dist-info")]
    return None


#: The ``.dist-info`` names of each absolute ``sys.path`` entry listed so far (a
#: process asks for a few packages: each directory is listed once; the packages a
#: process has imported do not change under it).
_DIST_INFOS: dict[str, list[str]] = {}


def _dist_infos(entry: str) -> list[str]:
    found = _DIST_INFOS.get(entry)
    if found is None:
        try:
            names = os.listdir(entry or ".")
        except OSError:
            names = []
        found = [n for n in names if n.endswith(".dist-info")]
        if os.path.isabs(entry):  # not "" or a relative path: the working directory may change
            _DIST_INFOS[entry] = found
    return found
