"""The toolkit's own JSON Schemas (draft 2020-12), shipped inside the wheel.

In the repository they live in ``schemas/``; the wheel carries them as
``preserve/_schemas`` (see ``pyproject.toml``). Editable installs read the
repository copy.
"""

from __future__ import annotations

import json
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

from jsonschema import Draft202012Validator


def _schema_text(name: str) -> str:
    filename = f"{name}.schema.json"
    packaged = resources.files("preserve").joinpath("_schemas", filename)
    if packaged.is_file():
        return packaged.read_text(encoding="utf-8")
    return (Path(__file__).resolve().parent.parent / "schemas" / filename).read_text("utf-8")


@cache
def load_schema(name: str) -> dict[str, Any]:
    schema: dict[str, Any] = json.loads(_schema_text(name))
    return schema


@cache
def validator(name: str) -> Draft202012Validator:
    schema = load_schema(name)
    Draft202012Validator.check_schema(schema)
    return Draft202012Validator(schema)
