"""Techniques: thin adapters that wire a component into a training run.

``TECHNIQUES`` maps names to :class:`Technique` subclasses; ``kerastricks list
techniques`` prints it and recipes are validated against it. Add a technique
as one module here plus one ``@register_technique`` decorator.
"""

from kerastricks.techniques import clip as _clip  # noqa: F401
from kerastricks.techniques import data_echoing as _data_echoing  # noqa: F401
from kerastricks.techniques import decoupling as _decoupling  # noqa: F401
from kerastricks.techniques import drw as _drw  # noqa: F401

# Built-in techniques register themselves on import.
from kerastricks.techniques import early_stopping as _early_stopping  # noqa: F401
from kerastricks.techniques import ema as _ema  # noqa: F401
from kerastricks.techniques import gradient_accumulation as _gradient_accumulation  # noqa: F401
from kerastricks.techniques import l2 as _l2  # noqa: F401
from kerastricks.techniques import label_smoothing as _label_smoothing  # noqa: F401
from kerastricks.techniques import prune as _prune  # noqa: F401
from kerastricks.techniques import recompute as _recompute  # noqa: F401
from kerastricks.techniques import reparameterize as _reparameterize  # noqa: F401
from kerastricks.techniques import resampling as _resampling  # noqa: F401
from kerastricks.techniques import snapshot_ensemble as _snapshot_ensemble  # noqa: F401
from kerastricks.techniques import swa as _swa  # noqa: F401
from kerastricks.techniques.base import PHASES, TECHNIQUES, Technique, TrainContext, register_technique


def build_technique(name: str, options: dict | None = None, *, file: str | None = None) -> Technique:
    """Validate ``options`` against the technique's signature and build it."""
    from kerastricks.validation import validate_options

    entry = TECHNIQUES.get(name, key=f"techniques.{name}")
    opts = validate_options(entry.obj, dict(options or {}), section=f"techniques.{name}", file=file)
    return entry.obj(**opts)


__all__ = ["PHASES", "TECHNIQUES", "Technique", "TrainContext", "build_technique", "register_technique"]
