"""Everything checked about a bundle before a competition is created from it.

:func:`check_bundle` is what the API runs on create and update and what ``arena competition
validate`` runs offline: the settings (every problem by its path), the pages (UTF-8), the
development split (the dataset's own checks), and the model module (jailed,
:mod:`core.organizer_code`). It raises :class:`Invalid` listing the problems; nothing is
stored until it passes.
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from core.bundle import CONFIG_NAME, DEV_NAME, Bundle
from core.competition_config import CompetitionConfig
from core.config_file import ConfigInvalid, load_config_yaml, validate_config_data
from core.datasets import inspect_npz
from core.errors import Invalid
from core.organizer_code import check_model

MAX_DEV_BYTES = 32 << 20


@dataclass(frozen=True)
class CheckedBundle:
    config: CompetitionConfig
    bundle: Bundle
    pages: dict[str, str]
    dev_summary: dict[str, Any] | None
    model_report: dict[str, Any]

    def stored_files(self) -> Bundle:
        """What the platform keeps as files: all but the settings and the model module, which
        live in the competition's settings (an export writes them back)."""
        module = getattr(self.config.model, "module", None)
        return self.bundle.without(CONFIG_NAME, *([module] if module else []))

    def metadata(self, file_name: str, sha256: str) -> dict[str, Any]:
        files = self.stored_files().files
        return {
            "file": file_name,
            "sha256": sha256,
            "pages": self.pages,
            "kit": {p: len(b) for p, b in sorted(files.items()) if p.startswith("kit/")},
            "dev": self.dev_summary,
            "files": sorted(files),
        }


def bundle_config(bundle: Bundle, slug: str | None = None) -> CompetitionConfig:
    """The bundle's settings, under ``slug`` when given, with the model module's source."""
    try:
        data = load_config_yaml(bundle.config_text)
    except ConfigInvalid as exc:
        problems = [f"{CONFIG_NAME}: {p}" for p in exc.problems]
        raise Invalid(exc.detail(), extra={"problems": problems}) from None
    if isinstance(data, dict):
        if slug:
            data["slug"] = slug
        model = data.get("model")
        if isinstance(model, dict) and ("module" in model or model.get("name") == "module"):
            if "source" in model:
                raise Invalid(
                    f"{CONFIG_NAME}: model.source: do not set it; the module's file "
                    "(model.module) is read from the bundle"
                )
            source = bundle.module_source(str(model.get("module", "model.py")))
            if source is not None:
                data["model"] = {**model, "source": source}
    try:
        return validate_config_data(data)
    except ConfigInvalid as exc:
        problems = [f"{CONFIG_NAME}: {p}" for p in exc.problems]
        raise Invalid(exc.detail(), extra={"problems": problems}) from None


def check_dev(cfg: CompetitionConfig, raw: bytes) -> dict[str, Any]:
    """The development split's summary; Invalid when it is not a usable dataset."""
    if cfg.dataset.source != "upload":
        raise Invalid(
            f"{DEV_NAME}: a development split goes with an uploaded dataset "
            "(dataset.source: upload); built-in data are public already"
        )
    with tempfile.TemporaryDirectory(prefix="arena-dev-") as tmp:
        path = Path(tmp) / DEV_NAME
        path.write_bytes(raw)
        try:
            summary = inspect_npz(path, cfg, MAX_DEV_BYTES)
        except Invalid as exc:
            raise Invalid(f"{DEV_NAME}: {exc.detail}") from None
    shape = summary.get("input_shape")
    if cfg.dataset.input_shape and shape and list(shape) != list(cfg.dataset.input_shape):
        raise Invalid(
            f"{DEV_NAME}: examples of shape {shape}, but dataset.input_shape is "
            f"{cfg.dataset.input_shape}"
        )
    return summary


def check_bundle(bundle: Bundle, slug: str | None = None, *, jailed: bool = True) -> CheckedBundle:
    """Check all of ``bundle`` (see the module's docstring); the model module last (slowest)."""
    cfg = bundle_config(bundle, slug)
    pages = bundle.pages()
    module = getattr(cfg.model, "module", None)
    if module is not None and bundle.module_source(module) is None:
        raise Invalid(
            f"model.module: {module} is not in the bundle; put it at the bundle's top, next to "
            f"{CONFIG_NAME}"
        )
    dev = check_dev(cfg, bundle.dev) if bundle.dev is not None else None
    shape = cfg.dataset.input_shape or (dev or {}).get("input_shape")
    report = check_model(cfg, list(shape) if shape else None, jailed=jailed)
    return CheckedBundle(cfg, bundle, pages, dev, report)
