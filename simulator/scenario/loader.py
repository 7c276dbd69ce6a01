"""Load scenario files: YAML, ``extends:`` inheritance, ``--set`` overrides, validation.

``load_scenario(path, overrides)`` returns a frozen :class:`Scenario` or raises
:class:`ScenarioError` naming the file, the key path, the value and what is allowed.

Inheritance: a file may say ``extends: base.yaml`` (relative to itself). Mappings merge
key by key, the child winning. Lists of named mappings (card types, centres, pools, job
classes, campaigns) merge by ``name``: an element with a known name patches it, a new
name is appended, and ``{name: x, _remove: true}`` drops ``x``. Other lists and scalars
are replaced whole (a pool's ``phases`` list, for instance, is restated in full).

Overrides (``--set key.path=value``, value parsed as YAML) address list elements by index
(``centres[0]``) or by their ``name`` (``centres.ct-phase2.pools.main.phases[0].servers``).
A path must exist in the merged file or name a field the schema defaults.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from simulator.errors import PolicyError, ScenarioError, ScenarioErrors, ScenarioPolicyError
from simulator.scenario.schema import InvalidReference, Scenario

_SEGMENT = re.compile(r"([^.\[\]]+)|\[(\d+)\]")


def load_scenario(
    path: str | Path, overrides: list[str] | dict[str, Any] | None = None
) -> Scenario:
    """Read, merge and validate a scenario file.

    Args:
        path: the YAML file.
        overrides: ``["key.path=value", ...]`` (values parsed as YAML) or a mapping of
            key paths to values; each path must already exist in the merged file or be a
            field the schema knows.

    Raises:
        ScenarioError: with the file, key path, value and what is allowed.
    """
    path = Path(path)
    raw = _load_with_extends(path, chain=())
    if overrides:
        items = overrides.items() if isinstance(overrides, dict) else parse_overrides(overrides)
        for key_path, value in items:
            _apply_override(raw, key_path, value, file=str(path))
    return validate_mapping(raw, file=str(path))


def validate_mapping(raw: dict[str, Any], *, file: str = "<scenario>") -> Scenario:
    """Validate an already-merged mapping into a :class:`Scenario`."""
    try:
        scenario = Scenario.model_validate(raw)
    except ValidationError as exc:
        raise _translate(exc, raw, file) from None
    _check_policies(scenario, file)
    return scenario


def _check_policies(scenario: Scenario, file: str) -> None:
    """Build the scenario's policy and dispatch rule once, so that an unknown name or a
    bad parameter is reported here with the file and key path, not when a run starts.

    Raises:
        ScenarioPolicyError: a :class:`ScenarioError` that is also a ``PolicyError``.
    """
    from simulator.policies.base import make_dispatch, make_policy

    policy, dispatch = scenario.policy, scenario.dispatch
    for section, build in (
        ("policy", lambda: make_policy(policy.name, policy.params, policy.module)),
        ("dispatch", lambda: make_dispatch(dispatch.name, dispatch.params)),
    ):
        try:
            build()
        except PolicyError as exc:
            raise ScenarioPolicyError(
                str(exc),
                file=file,
                key_path=f"{section}.{exc.key}" if exc.key else section,
                value=exc.value,
                has_value=exc.has_value,
            ) from None


def scenario_to_dict(scenario: Scenario) -> dict[str, Any]:
    """The resolved scenario as plain data (dates as ISO strings), ready for YAML/JSON."""
    return scenario.model_dump(mode="json")


def dump_scenario(scenario: Scenario) -> str:
    """The resolved scenario as a YAML document."""
    return yaml.safe_dump(scenario_to_dict(scenario), sort_keys=False, allow_unicode=True)


# --------------------------------------------------------------------------- reading


def _read_yaml(path: Path) -> dict[str, Any]:
    if not path.exists():
        raise ScenarioError("file not found", file=str(path))
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or str(exc)
        raise ScenarioError(f"malformed YAML{where}: {problem}", file=str(path)) from None
    if not isinstance(data, dict):
        raise ScenarioError(
            f"a scenario file must be a YAML mapping, got {type(data).__name__}", file=str(path)
        )
    return data


def _load_with_extends(path: Path, chain: tuple[Path, ...]) -> dict[str, Any]:
    resolved = path.resolve()
    if resolved in chain:
        cycle = " -> ".join(str(p) for p in (*chain, resolved))
        raise ScenarioError(f"'extends' forms a cycle: {cycle}", file=str(path), key_path="extends")
    data = _read_yaml(path)
    _anchor_paths(data, path)
    base_name = data.pop("extends", None)
    if base_name is None:
        return data
    if not isinstance(base_name, str):
        raise ScenarioError(
            "'extends' must be a file name (relative to this file)",
            file=str(path),
            key_path="extends",
            value=base_name,
            has_value=True,
        )
    base_path = (path.parent / base_name) if not Path(base_name).is_absolute() else Path(base_name)
    if not base_path.exists():
        raise ScenarioError(
            f"extends a file that does not exist: {base_path}",
            file=str(path),
            key_path="extends",
            value=base_name,
            has_value=True,
        )
    base = _load_with_extends(base_path, chain=(*chain, resolved))
    return _merge(base, data)


REMOVE_KEY = "_remove"


def _anchor_paths(data: dict[str, Any], path: Path) -> None:
    """Make file paths inside a scenario absolute, relative to the file naming them."""
    workload = data.get("workload")
    trace = workload.get("trace") if isinstance(workload, dict) else None
    policy = data.get("policy")
    for holder, key in ((trace, "file"), (policy, "module")):
        if isinstance(holder, dict) and isinstance(holder.get(key), str):
            holder[key] = str((path.parent / holder[key]).resolve())


def _merge(base: Any, child: Any) -> Any:
    if isinstance(base, dict) and isinstance(child, dict):
        out = dict(base)
        for k, v in child.items():
            out[k] = _merge(base[k], v) if k in base else copy.deepcopy(v)
        return out
    if _named_list(base) and _named_list(child):
        return _merge_named(base, child)
    return copy.deepcopy(child)


def _named_list(value: Any) -> bool:
    return (
        isinstance(value, list)
        and bool(value)
        and all(isinstance(e, dict) and "name" in e for e in value)
    )


def _merge_named(base: list[dict[str, Any]], child: list[dict[str, Any]]) -> list[Any]:
    """Merge lists of named mappings by name: patch, append, or drop (``_remove: true``)."""
    out = [copy.deepcopy(e) for e in base]
    index = {e["name"]: i for i, e in enumerate(out)}
    drop = set()
    for element in child:
        patch = dict(element)
        remove = patch.pop(REMOVE_KEY, False)
        name = patch["name"]
        if remove:
            if name not in index:
                raise ScenarioError(
                    f"'{REMOVE_KEY}' names '{name}', which the base file does not have; "
                    f"known: {sorted(index)}",
                    key_path=REMOVE_KEY,
                )
            drop.add(name)
        elif name in index:
            out[index[name]] = _merge(out[index[name]], patch)
        else:
            index[name] = len(out)
            out.append(copy.deepcopy(patch))
    return [e for e in out if e["name"] not in drop]


# --------------------------------------------------------------------------- overrides


def parse_overrides(items: Iterable[str]) -> list[tuple[str, Any]]:
    """``key.path=value`` strings as (key path, value) pairs, values parsed as YAML."""
    out = []
    for item in items:
        if "=" not in item:
            raise ScenarioError(
                "an override must look like key.path=value",
                file="--set",
                value=item,
                has_value=True,
            )
        key, _, text = item.partition("=")
        try:
            value = yaml.safe_load(text) if text.strip() else ""
        except yaml.YAMLError:
            value = text
        out.append((key.strip(), value))
    return out


def _split_path(key_path: str) -> list[str | int]:
    parts: list[str | int] = []
    for m in _SEGMENT.finditer(key_path):
        parts.append(m.group(1) if m.group(1) is not None else int(m.group(2)))
    if not parts:
        raise ScenarioError("empty key path", file="--set", value=key_path, has_value=True)
    return parts


def _apply_override(raw: dict[str, Any], key_path: str, value: Any, *, file: str) -> None:
    parts = _split_path(key_path)
    node: Any = raw
    walked: list[str] = []
    for i, part in enumerate(parts):
        last = i == len(parts) - 1
        here = ".".join(str(p) for p in walked) or "<top>"
        if isinstance(node, list):
            idx = _list_index(node, part)
            if idx is None:
                names = [e.get("name") for e in node if isinstance(e, dict) and "name" in e]
                allowed = f"an index 0..{len(node) - 1}" + (
                    f" or a name in {names}" if names else ""
                )
                raise ScenarioError(
                    f"no element '{part}' under '{here}'; use {allowed}",
                    file="--set",
                    key_path=key_path,
                    value=value,
                    has_value=True,
                )
            if last:
                node[idx] = value
                return
            node = node[idx]
        elif isinstance(node, dict):
            if not isinstance(part, str):
                raise ScenarioError(
                    f"'{here}' is a mapping, not a list", file="--set", key_path=key_path
                )
            if last:
                if part not in node and not _schema_knows(parts):
                    raise ScenarioError(
                        f"no key '{part}' under '{here}'; known keys: {sorted(node)}",
                        file="--set",
                        key_path=key_path,
                        value=value,
                        has_value=True,
                    )
                node[part] = value
                return
            if part not in node:
                if _schema_knows(parts[: i + 1]):
                    node[part] = {}
                else:
                    raise ScenarioError(
                        f"no key '{part}' under '{here}'; known keys: {sorted(node)}",
                        file="--set",
                        key_path=key_path,
                        value=value,
                        has_value=True,
                    )
            node = node[part]
        else:
            raise ScenarioError(
                f"'{here}' holds a value ({node!r}), not a mapping or list",
                file="--set",
                key_path=key_path,
            )
        walked.append(str(part))


def _list_index(node: list[Any], part: str | int) -> int | None:
    if isinstance(part, int):
        return part if 0 <= part < len(node) else None
    if part.isdigit() and int(part) < len(node):
        return int(part)
    for i, e in enumerate(node):
        if isinstance(e, dict) and e.get("name") == part:
            return i
    return None


def _schema_knows(parts: list[str | int]) -> bool:
    """Whether a path of mapping keys names a field of the schema (for defaulted keys)."""
    from typing import get_origin

    from pydantic import BaseModel

    if len(parts) == 3 and parts[0] in ("policy", "dispatch") and parts[1] == "params":
        # Any name: the parameters are checked against the policy's or dispatch rule's
        # fields once the scenario is built (``_check_policies``).
        return True
    model: Any = Scenario
    element_next = False  # the previous field was a list: this part picks an element
    for part in parts:
        if element_next or isinstance(part, int) or part.isdigit():
            element_next = False
            continue
        if not (isinstance(model, type) and issubclass(model, BaseModel)):
            return False
        field = model.model_fields.get(part)
        if field is None:
            return False
        element_next = get_origin(field.annotation) is list
        model = _inner_model(field.annotation)
    return True


def _inner_model(annotation: Any) -> Any:
    from typing import get_args

    from pydantic import BaseModel

    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for arg in get_args(annotation):
        inner = _inner_model(arg)
        if inner is not None:
            return inner
    return None


# --------------------------------------------------------------------------- errors


def _translate(exc: ValidationError, raw: dict[str, Any], file: str) -> ScenarioError:
    errors = []
    for err in exc.errors():
        loc = [p for p in err["loc"] if not (isinstance(p, str) and p in _UNION_TAGS)]
        key_path = _format_loc(loc, raw)
        msg = err["msg"]
        if err["type"] == "extra_forbidden":
            msg = "unknown key" + _allowed_keys_hint(loc)
        elif err["type"] == "missing":
            msg = "required key is missing"
        elif msg.startswith("Value error, "):
            msg = msg[len("Value error, ") :]
        has_value = err["type"] != "missing"
        value = err.get("input") if has_value else None
        cause = (err.get("ctx") or {}).get("error")
        if isinstance(cause, InvalidReference):
            # A nested model's check names keys relative to that model's location.
            inner = cause.key_path
            key_path = f"{key_path}.{inner}" if loc else inner
            value, has_value, msg = cause.value, True, str(cause)
        if isinstance(value, (dict, list)):
            has_value = False
            value = None
        errors.append(
            ScenarioError(msg, file=file, key_path=key_path, value=value, has_value=has_value)
        )
    return errors[0] if len(errors) == 1 else ScenarioErrors(errors)


_UNION_TAGS = {"table", "lognormal", "exponential", "constant"}


def _format_loc(loc: list[Any], raw: dict[str, Any]) -> str:
    out = ""
    node: Any = raw
    for p in loc:
        if isinstance(p, int):
            name = (
                node[p].get("name")
                if isinstance(node, list) and p < len(node) and isinstance(node[p], dict)
                else None
            )
            out += f"[{p}]" + (f"({name})" if name else "")
            node = node[p] if isinstance(node, list) and p < len(node) else None
        else:
            out += ("." if out else "") + str(p)
            node = node.get(p) if isinstance(node, dict) else None
    return out or "<top>"


def _allowed_keys_hint(loc: list[Any]) -> str:
    from pydantic import BaseModel

    model: Any = Scenario
    for part in loc[:-1]:
        if isinstance(part, int):
            continue
        if not (isinstance(model, type) and issubclass(model, BaseModel)):
            return ""
        field = model.model_fields.get(part)
        if field is None:
            return ""
        model = _inner_model(field.annotation)
    if isinstance(model, type) and issubclass(model, BaseModel):
        return f"; allowed keys here: {', '.join(model.model_fields)}"
    return ""
