"""The one compiled part, optional: `mosaic.rtc._fastpath` (see mosaic/rtc/fastpath.py).

Everything else is in pyproject.toml. ``optional=True``: on a machine without a C compiler or
Python's headers the build warns and goes on, and the server forwards through the pure-Python
path (same bytes on the wire, more CPU per packet; docs/performance.md says how much).
"""

from setuptools import Extension, setup

setup(
    ext_modules=[
        Extension(
            "mosaic.rtc._fastpath",
            sources=["mosaic/rtc/_fastpath.c"],
            extra_compile_args=[
                "-O2",
                "-Wall",
                "-Wextra",
                "-Wno-unused-parameter",
                "-Wno-missing-field-initializers",
                # Doubles computed exactly as Python computes them (ReceptionStats' jitter):
                # no fused multiply-add where the target has one.
                "-ffp-contract=off",
            ],
            optional=True,
        )
    ]
)
