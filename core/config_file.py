"""A competition as one YAML file: parse it, validate it, and list every problem by its path.

``parse_config_text`` never raises anything but :class:`ConfigInvalid`, whose ``problems`` read
like ``phases[1].end: before phases[1].start`` (or ``line 4, column 3: ...`` for YAML syntax),
so an organizer can fix the whole file in one pass.
"""

from __future__ import annotations

import re
from typing import Any

import yaml
from pydantic import TypeAdapter, ValidationError

from core.competition_config import MODEL_NAMES, CompetitionConfig, PhaseConfig

_PHASES = TypeAdapter(list[PhaseConfig])

MAX_CONFIG_BYTES = 256 * 1024


class ConfigInvalid(Exception):
    def __init__(self, problems: list[str]) -> None:
        super().__init__("; ".join(problems))
        self.problems = problems

    def detail(self) -> str:
        return "The competition file has problems: " + "; ".join(self.problems)


def path_of(loc: tuple[Any, ...]) -> str:
    """('phases', 1, 'end') -> 'phases[1].end' (dropping pydantic's union tags)."""
    out = ""
    previous: Any = None
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        elif previous == "model" and part in MODEL_NAMES:
            pass
        else:
            out += ("." if out else "") + str(part)
        previous = part
    return out or "(top level)"


def _pydantic_problems(exc: ValidationError) -> list[str]:
    problems = []
    for err in exc.errors():
        msg = err.get("msg", "invalid")
        kind = err.get("type", "")
        if kind == "missing":
            msg = "is required"
        elif kind == "extra_forbidden":
            msg = "is not a known setting (check the spelling; see examples/competitions/)"
        elif msg.startswith("Value error, "):
            msg = msg[len("Value error, ") :]
        problems.append(f"{path_of(tuple(err.get('loc', ())))}: {msg}")
    return problems


def phase_problems(phases: list[PhaseConfig]) -> list[str]:
    problems: list[str] = []
    names: dict[str, int] = {}
    for i, phase in enumerate(phases):
        if phase.name in names:
            problems.append(
                f"phases[{i}].name: {phase.name!r} is used by phases[{names[phase.name]}]"
            )
        names.setdefault(phase.name, i)
        if phase.end is not None and phase.end <= phase.start:
            problems.append(f"phases[{i}].end: before phases[{i}].start")
        if i > 0:
            prev = phases[i - 1]
            if prev.end is None:
                problems.append(f"phases[{i - 1}].end: is required when another phase follows")
            elif phase.start < prev.end:
                problems.append(
                    f"phases[{i}].start: before phases[{i - 1}].end (phases must not overlap)"
                )
    return problems


def semantic_problems(cfg: CompetitionConfig) -> list[str]:
    """Checks across fields that pydantic's per-field rules cannot express."""
    problems = phase_problems(cfg.phases)
    if cfg.split.forget_groups is not None and cfg.dataset.source != "upload":
        problems.append(
            "split.forget_groups: needs an uploaded dataset with a `group` array (dataset.source: upload)"
        )
    if cfg.model.name in ("cnn", "resnet18") and cfg.dataset.source == "builtin":
        if cfg.dataset.loader != "sklearn_digits_image":
            problems.append(
                f"model.name: {cfg.model.name} needs image inputs (channels x height x width); "
                "use dataset.loader: sklearn_digits_image or upload images"
            )
    flat = cfg.dataset.source == "builtin" and cfg.dataset.loader == "sklearn_digits"
    if cfg.recipe.augment.active and flat:
        problems.append(
            "recipe.augment: needs image inputs; use dataset.loader: sklearn_digits_image or "
            "upload images"
        )
    if cfg.dataset.input_shape and any(d < 1 for d in cfg.dataset.input_shape):
        problems.append("dataset.input_shape: every dimension must be at least 1")
    if cfg.scoring.min_runs is not None and cfg.scoring.min_runs > cfg.scoring.n_public:
        problems.append("scoring.min_runs: larger than scoring.n_models (its public N)")
    return problems


def validate_config_data(data: Any) -> CompetitionConfig:
    if not isinstance(data, dict):
        raise ConfigInvalid(
            [
                "(top level): must be a mapping of settings (slug: ..., title: ...), not "
                f"{type(data).__name__}"
            ]
        )
    try:
        cfg = CompetitionConfig.model_validate(data)
    except ValidationError as exc:
        problems = _pydantic_problems(exc)
        try:  # list the phase problems too, so that one pass fixes the file
            problems += phase_problems(_PHASES.validate_python(data.get("phases") or []))
        except ValidationError:
            pass
        raise ConfigInvalid(problems) from None
    problems = semantic_problems(cfg)
    if problems:
        raise ConfigInvalid(problems)
    return cfg


def parse_config_text(text: str) -> CompetitionConfig:
    """Parse a competition file (YAML; JSON is YAML too) into a validated config."""
    return validate_config_data(load_config_yaml(text))


def load_config_yaml(text: str) -> Any:
    """The competition file's data, not yet validated; ConfigInvalid for size or YAML syntax."""
    if len(text.encode("utf-8", errors="replace")) > MAX_CONFIG_BYTES:
        raise ConfigInvalid([f"(file): larger than {MAX_CONFIG_BYTES // 1024} KiB"])
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}" if mark else "(file)"
        problem = getattr(exc, "problem", None) or str(exc)
        raise ConfigInvalid([f"{where}: {problem} (the file is not valid YAML)"]) from None
    return data


def public_settings(cfg: CompetitionConfig) -> dict[str, Any]:
    """The settings as an organizer writes them: a module model's source stays in its file."""
    data = cfg.model_dump(mode="json")
    data["model"].pop("source", None)
    return data


def json_schema() -> dict[str, Any]:
    """The JSON Schema of competition.yaml (from the settings' pydantic model), for editors;
    docs/competition.schema.json is this, and a test keeps it so."""
    schema = CompetitionConfig.model_json_schema()
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        **schema,
        "title": "Unlearning Arena competition.yaml",
    }


def dump_config(cfg: CompetitionConfig) -> str:
    return yaml.safe_dump(public_settings(cfg), sort_keys=False, allow_unicode=True)


# libyaml's loader where PyYAML has it: ~5x faster on big files; for locating problems only (the
# pure-Python loader's syntax errors, which the editor shows, point at the lines people expect)
LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)

_SEGMENT = re.compile(r"([^.\[\]]+)|\[(\d+)\]")


def _segments(path: str) -> list[str | int]:
    return [int(i) if i else name for name, i in _SEGMENT.findall(path)]


def _compose(text: str) -> yaml.Node | None:
    try:
        return yaml.compose(text, Loader=LOADER)
    except yaml.YAMLError:
        return None


def line_of(text: str, path: str, root: yaml.Node | None = None) -> int | None:
    """The 1-based line of ``path`` (e.g. ``phases[1].end``) in the YAML ``text``: the deepest
    part of the path the file has (a missing key points at its parent). ``root``: the text's
    composed node tree, when the caller has it (one parse for many paths)."""
    node = root if root is not None else _compose(text)
    if node is None:
        return None
    line = node.start_mark.line + 1 if path.startswith("(") else None
    for seg in _segments(path):
        child = None
        if isinstance(node, yaml.MappingNode) and isinstance(seg, str):
            child = next((v for k, v in node.value if getattr(k, "value", None) == seg), None)
            key = next((k for k, _ in node.value if getattr(k, "value", None) == seg), None)
            if key is not None:
                line = key.start_mark.line + 1
        elif isinstance(node, yaml.SequenceNode) and isinstance(seg, int) and seg < len(node.value):
            child = node.value[seg]
            line = child.start_mark.line + 1
        if child is None:
            break
        node = child
    return line if line is not None else node.start_mark.line + 1


def problems_by_line(text: str, problems: list[str]) -> dict[int | None, list[str]]:
    """Group problems by the line they refer to (None: not tied to a line). The text is parsed
    once, however many problems there are."""
    out: dict[int | None, list[str]] = {}
    root: yaml.Node | None = None
    parsed = False
    for problem in problems:
        where = problem.split(": ", 1)[0]
        match = re.match(r"line (\d+), column \d+", where)
        if match:
            line: int | None = int(match.group(1))
        else:
            if not parsed:
                root, parsed = _compose(text), True
            line = line_of(text, where, root) if root is not None else None
        out.setdefault(line, []).append(problem)
    return out
