"""Tools beyond the default set: running Python, installing packages, downloading and searching the web."""

from __future__ import annotations

from locoder.tools.base import Tool
from locoder.tools.packages import install_package
from locoder.tools.python_exec import run_python
from locoder.tools.web import download_file, search_web


def extra_tools() -> list[Tool]:
    return [run_python, install_package, download_file, search_web]


__all__ = ["download_file", "extra_tools", "install_package", "run_python", "search_web"]
