"""The competition's model, built from a module's builder: a built-in (:mod:`worker.ml.models`)
or the organizer's own module, whose source the spec carries. Imported in the sandbox, so
it imports torch and this package only (not core: the sandbox does not bind it). Returned weights are always
loaded into a model built here, never into anything the participant defines.

A spec (JSON) is the model section of the competition's settings plus ``input_shape`` and
``n_classes``; it is stored with the prepared artefacts and handed to every run, so a module's
source travels with it and every process builds the same architecture.
"""

from __future__ import annotations

import hashlib
import importlib
import inspect
import sys
import types
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from torch import nn

from worker.ml.models import BUILTIN_MODELS
from worker.ml.models.mlp import MLP

__all__ = [
    "MLP",
    "REGISTRY",
    "MissingModule",
    "ModelBuildError",
    "build_model",
    "model_imports",
    "model_spec",
]

REGISTRY = BUILTIN_MODELS
SHAPE_ARGUMENTS = ("input_shape", "n_classes")
_LOADED: dict[tuple[str, str | None], types.ModuleType] = {}
_ACTIVE: list[str] = []  # the runtime folders organizer modules import from, innermost last
_SEEN: set[str] = set()  # every runtime folder this process has imported from


class ModelBuildError(ValueError):
    """The model cannot be built: the message says what to fix in the module or its params."""


class MissingModule(ModelBuildError):
    """The module imports a package this environment lacks (``name``)."""

    def __init__(self, message: str, name: str) -> None:
        super().__init__(message)
        self.name = name


@contextmanager
def model_imports(site: Path | None) -> Iterator[None]:
    """Within it, organizer modules may import the packages of the competition's runtime
    (``site``, :mod:`worker.runtime`), after the platform's own, as in the sandbox. What they
    imported from there is forgotten when it ends, so that a worker serving two competitions
    never hands one runtime's package to the other's model."""
    if site is None:
        yield
        return
    path = str(site)
    _forget_modules_under(tuple(f"{p}/" for p in _SEEN))
    _SEEN.add(path)
    added = path not in sys.path
    if added:
        sys.path.append(path)
    _ACTIVE.append(path)
    try:
        yield
    finally:
        _ACTIVE.pop()
        if path not in _ACTIVE:
            if added and path in sys.path:
                sys.path.remove(path)
            _forget_modules_under((f"{path}/",))


def _forget_modules_under(prefixes: tuple[str, ...]) -> None:
    """Drop from sys.modules the modules loaded from these folders (objects already built
    keep theirs)."""
    if not prefixes:
        return
    for name, module in list(sys.modules.items()):
        if str(getattr(module, "__file__", None) or "").startswith(prefixes):
            del sys.modules[name]


def model_spec(model_cfg: Any, input_shape: tuple[int, ...], n_classes: int) -> dict[str, Any]:
    """A JSON-able description from which :func:`build_model` rebuilds the architecture."""
    spec = model_cfg.model_dump(mode="json")
    if spec.get("name") == "module" and not spec.get("source"):
        raise ModelBuildError(
            f"the model module {spec.get('module')!r} has no source: create or update the "
            "competition from its bundle (the folder or zip holding the module)"
        )
    return {**spec, "input_shape": [int(d) for d in input_shape], "n_classes": n_classes}


def build_model(spec: dict[str, Any]) -> nn.Module:
    """The spec's model, freshly initialised from torch's current random state."""
    if "input_shape" not in spec and "n_features" in spec:  # specs written before input_shape
        spec = {**spec, "input_shape": [int(spec["n_features"])]}
    builder, params, where = _builder(spec)
    kwargs = dict(params)
    accepted = _accepted(builder)
    for name in SHAPE_ARGUMENTS:
        if name not in kwargs and (accepted is None or name in accepted):
            kwargs[name] = list(spec[name]) if name == "input_shape" else int(spec[name])
    if accepted is not None:
        unknown = sorted(set(kwargs) - accepted)
        if unknown:
            raise ModelBuildError(
                f"{where} takes no parameter {', '.join(unknown)}: remove it from model.params "
                f"or add it to the function (it takes: {', '.join(sorted(accepted)) or 'nothing'})"
            )
    try:
        model = builder(**kwargs)
    except ModelBuildError:
        raise
    except Exception as exc:  # noqa: BLE001 - the organizer's builder, any error
        raise ModelBuildError(f"{where} raised {type(exc).__name__}: {exc}") from exc
    if not isinstance(model, nn.Module):
        raise ModelBuildError(
            f"{where} returned {type(model).__name__}, not a torch.nn.Module: return the model"
        )
    return model


def _builder(spec: dict[str, Any]) -> tuple[Callable[..., Any], dict[str, Any], str]:
    name = spec.get("name")
    if name == "module":
        module = load_module_source(str(spec.get("source") or ""), str(spec["module"]))
        fn = getattr(module, str(spec["builder"]), None)
        where = f"{spec['module']}: {spec['builder']}()"
        if not callable(fn):
            raise ModelBuildError(
                f"{spec['module']} defines no function {spec['builder']!r}: define "
                f"`def {spec['builder']}(**params) -> torch.nn.Module` or set model.builder"
            )
        return fn, dict(spec.get("params") or {}), where
    if name not in BUILTIN_MODELS:
        raise ModelBuildError(f"unknown model {name!r}; known: {', '.join(REGISTRY)}")
    builtin = importlib.import_module(f"worker.ml.models.{name}")
    params = {k: v for k, v in spec.items() if k not in ("name", *SHAPE_ARGUMENTS)}
    return builtin.build_model, params, f"the built-in model {name!r}"


def _accepted(fn: Callable[..., Any]) -> set[str] | None:
    """The keyword parameters ``fn`` takes; None when it takes any (``**kwargs``)."""
    try:
        params = inspect.signature(fn).parameters.values()
    except (TypeError, ValueError):
        return None
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params):
        return None
    return {
        p.name
        for p in params
        if p.kind in (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY)
    }


def load_module_source(source: str, filename: str) -> types.ModuleType:
    """The organizer's module from its source, executed once per process and runtime (cached
    by hash)."""
    digest = hashlib.sha256(source.encode()).hexdigest()
    site = _ACTIVE[-1] if _ACTIVE else None
    if (digest, site) in _LOADED:
        return _LOADED[(digest, site)]
    name = f"arena_model_{digest[:16]}"
    module = types.ModuleType(name)
    module.__file__ = filename
    sys.modules[name] = module  # classes defined there can then be copied and pickled
    try:
        exec(compile(source, filename, "exec"), module.__dict__)  # noqa: S102 - organizer code
    except SyntaxError as exc:
        del sys.modules[name]
        raise ModelBuildError(
            f"{filename}, line {exc.lineno}: {exc.msg} (the module is not valid Python)"
        ) from None
    except ModuleNotFoundError as exc:
        del sys.modules[name]
        raise MissingModule(
            f"{filename} could not be imported: no module named {exc.name!r} here (it may import "
            "torch, numpy, the standard library and the packages of the competition's runtime; "
            "add the package to runtime.packages)",
            str(exc.name),
        ) from exc
    except Exception as exc:  # noqa: BLE001 - any error of the module's top-level code
        del sys.modules[name]
        raise ModelBuildError(
            f"{filename} could not be imported: {type(exc).__name__}: {exc} (it may import "
            "torch, numpy, the standard library and the packages of the competition's runtime)"
        ) from exc
    _LOADED[(digest, site)] = module
    return module
