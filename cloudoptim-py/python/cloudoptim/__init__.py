"""CloudOptim for Python: the same engines and models as the Rust crate.

All logic lives in Rust (``cloudoptim-core``); this package is a thin layer.
"""

from ._native import instance_type_json, parse_millis, parse_units

__all__ = ["instance_type_json", "parse_millis", "parse_units"]
