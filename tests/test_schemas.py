"""The toolkit's own formats: every schema is valid JSON Schema 2020-12, the config
schema matches the Settings model, and real documents validate."""

from __future__ import annotations

import json

import pytest
import yaml
from jsonschema import Draft202012Validator

from preserve.schemas import validator
from preserve.settings import Settings
from tests.conftest import ROOT
from tests.helpers import EXAMPLE

SCHEMAS = sorted((ROOT / "schemas").glob("*.schema.json"))


@pytest.mark.parametrize("path", SCHEMAS, ids=lambda p: p.name)
def test_schema_is_valid(path) -> None:  # type: ignore[no-untyped-def]
    Draft202012Validator.check_schema(json.loads(path.read_text()))


def test_config_schema_is_the_settings_model() -> None:
    """schemas/config.schema.json is generated: `python -m preserve.settings > ...`."""
    committed = json.loads((ROOT / "schemas" / "config.schema.json").read_text())
    assert committed == Settings.json_schema()


def test_example_manifest_validates() -> None:
    data = yaml.safe_load((EXAMPLE / "preserve.yaml").read_text())
    assert list(validator("manifest").iter_errors(data)) == []
