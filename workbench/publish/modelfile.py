"""Modelfile text: the TEMPLATE, SYSTEM and PARAMETER lines written for Ollama, and read back from an edit."""

from __future__ import annotations

import json
import re

from workbench.publish.merge import PublishError

_TRIPLE = re.compile(r'^(TEMPLATE|SYSTEM)\s+"""(.*?)"""\s*$', re.S | re.M)


def modelfile_body(template: str, system: str, parameters: dict) -> list[str]:
    """The TEMPLATE, SYSTEM and PARAMETER lines of a Modelfile."""
    lines = [f'TEMPLATE """{template}"""']
    if system:
        lines.append(f'SYSTEM """{system}"""')
    for key, value in parameters.items():
        for item in value if isinstance(value, list) else [value]:
            lines.append(f"PARAMETER {key} {json.dumps(item) if isinstance(item, str) else item}")
    return lines


def parse_modelfile(text: str) -> tuple[str, str, dict]:
    """(template, system, parameters) from an edited Modelfile's TEMPLATE, SYSTEM and PARAMETER lines.
    FROM and ADAPTER lines are skipped (the route decides them); any other keyword is refused."""
    found = {match.group(1): match.group(2) for match in _TRIPLE.finditer(text)}
    rest = _TRIPLE.sub("", text)
    parameters: dict = {}
    for number, raw in enumerate(rest.splitlines(), 1):
        line = raw.split("#", 1)[0].strip() if not raw.lstrip().startswith("PARAMETER") else raw.strip()
        if not line:
            continue
        keyword = line.split(None, 1)[0].upper()
        if keyword == "PARAMETER":
            parts = line.split(None, 2)
            if len(parts) < 3:
                raise PublishError(f"Modelfile line {number}: PARAMETER needs a name and a value.")
            _add_parameter(parameters, parts[1], parts[2].strip(), number)
        elif keyword in ("FROM", "ADAPTER"):
            continue  # the route decides these; edits to them are ignored, not silently followed
        else:
            raise PublishError(
                f"Modelfile line {number}: {keyword} is not supported here; edit TEMPLATE, SYSTEM "
                "or PARAMETER lines (choose the route and quantization with the options)."
            )
    if "TEMPLATE" not in found:
        raise PublishError('The Modelfile has no TEMPLATE """...""" block: the model would lose its chat format.')
    return found["TEMPLATE"], found.get("SYSTEM", ""), parameters


def _add_parameter(parameters: dict, key: str, value: str, number: int) -> None:
    if value.startswith('"'):
        try:
            parsed = json.loads(value)
        except ValueError as exc:
            raise PublishError(f"Modelfile line {number}: {value} is not a valid quoted string.") from exc
    else:
        try:
            parsed = int(value)
        except ValueError:
            try:
                parsed = float(value)
            except ValueError:
                parsed = value
    if key == "stop":
        parameters.setdefault("stop", []).append(parsed)
    else:
        parameters[key] = parsed
