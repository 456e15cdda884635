"""The optional compiled core (green/_core.c); everything else is in pyproject.toml.

The extension is optional: where no C compiler (or no greenlet header) is available, the build
goes on without it and green runs as pure Python.
"""

import os

from setuptools import Extension, setup


def _greenlet_include() -> list[str]:
    try:
        import greenlet
    except ImportError:
        return []
    return [os.path.dirname(greenlet.__file__)]


setup(
    ext_modules=[
        Extension(
            "green._core",
            sources=["green/_core.c"],
            include_dirs=_greenlet_include(),
            optional=True,
        )
    ]
)
