"""Reading a mandate file: YAML to a JSON-compatible body, checked against the published JSON Schema.

Errors name the file and the YAML path of the problem, e.g.
``mandate.yaml: scope.entities.patient: unknown key 'colour'; valid keys: fields, free_text, transformations``.
The schema is ``airlock/schemas/mandate.schema.json`` (draft 2020-12).
"""

from __future__ import annotations

import json
from functools import cache
from importlib.resources import files
from pathlib import Path
from typing import Any

import jsonschema
import yaml

from airlock.mandate.canonical import json_compatible
from airlock.mandate.errors import MandateError


@cache
def mandate_schema() -> dict[str, Any]:
    """The published JSON Schema of a mandate."""
    return json.loads(files("airlock").joinpath("schemas/mandate.schema.json").read_text())


class _StrictLoader(yaml.SafeLoader):
    """Safe YAML that refuses duplicate keys: the signer must see exactly what is signed."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen = set()
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=deep)
            if key in seen:
                raise yaml.constructor.ConstructorError(
                    None, None, f"duplicate key {key!r}: a key may appear only once", key_node.start_mark
                )
            seen.add(key)
        return super().construct_mapping(node, deep=deep)


def yaml_path(parts: Any) -> str:
    """``scope.entities.patient.fields[2]`` from a jsonschema path.

    >>> yaml_path(["scope", "entities", "patient", "fields", 2])
    'scope.entities.patient.fields[2]'
    >>> yaml_path([])
    '(top level)'
    """
    out = ""
    for part in parts:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "(top level)"


def _problem(error: jsonschema.ValidationError) -> str:
    """One short sentence for a schema error, naming keys but never quoting long values."""
    kind, schema, value = error.validator, error.schema, error.validator_value
    if kind == "additionalProperties" and isinstance(error.instance, dict):
        allowed = schema.get("properties", {})
        unknown = sorted(k for k in error.instance if k not in allowed)
        return f"unknown key {', '.join(map(repr, unknown))}; valid keys: {', '.join(allowed)}"
    if kind == "required":
        return f"missing key {error.message.split(' is a required')[0]}"
    if kind == "enum":
        return f"{error.instance!r} is not allowed; choose one of {', '.join(map(str, value))}"
    if kind == "type":
        return f"must be {'an' if value[0] in 'aeiou' else 'a'} {value}"
    if kind in ("format", "pattern") and schema.get("format") == "date":
        return "must be a date written YYYY-MM-DD"
    if kind == "pattern":
        return f"{error.instance!r} does not have the expected form ({value})"
    if kind == "not" and "required" in value:
        return f"must not have {', '.join(value['required'])} here"
    if kind in ("minItems", "minProperties"):
        return "must not be empty"
    if kind == "minLength":
        return f"must have at least {value} characters"
    if kind == "uniqueItems":
        return "lists the same value twice"
    return error.message if len(error.message) < 200 else f"fails the schema rule {kind!r}"


def read_body(path: Path) -> dict[str, Any]:
    """The mandate at ``path`` as JSON-compatible data, valid against the schema; MandateError otherwise."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as e:
        raise MandateError(f"{path}: cannot read the mandate ({type(e).__name__}); give a UTF-8 YAML file") from None
    try:
        data = yaml.load(text, Loader=_StrictLoader)
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f"line {mark.line + 1}" if mark else "YAML"
        raise MandateError(f"{path}: {where}: not valid YAML ({getattr(e, 'problem', None) or type(e).__name__})") from None
    if not isinstance(data, dict):
        raise MandateError(f"{path}: a mandate is a YAML mapping (key: value lines); see docs/mandate.md")
    try:
        body = json_compatible(data)
    except TypeError as e:
        raise MandateError(f"{path}: {e}") from None
    validator = jsonschema.Draft202012Validator(mandate_schema(), format_checker=jsonschema.FormatChecker())
    errors = sorted(validator.iter_errors(body), key=lambda e: (list(map(str, e.absolute_path)), e.validator))
    if errors:
        first = jsonschema.exceptions.best_match(errors)
        more = f" (and {len(errors) - 1} more problem{'s' if len(errors) > 2 else ''})" if len(errors) > 1 else ""
        raise MandateError(f"{path}: {yaml_path(first.absolute_path)}: {_problem(first)}{more}")
    return body
