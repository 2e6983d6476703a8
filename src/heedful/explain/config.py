"""What a faithfulness measurement does, as one typed config (torch-free: the CLI builds its flags from it)."""

from __future__ import annotations

from dataclasses import dataclass

from heedful.errors import InputError
from heedful.fields import check_fields, param

METHODS = ("attention", "integrated_gradients", "input_x_gradient", "random")
GRADIENT_METHODS = ("integrated_gradients", "input_x_gradient")
ERASER_FRACTIONS = (0.01, 0.05, 0.1, 0.2, 0.5)  # DeYoung et al. (2020): the AOPC bins


@dataclass
class FaithfulnessConfig:
    fractions: tuple[float, ...] = param((0.05, 0.1, 0.2, 0.3, 0.5, 0.7, 1.0), "curve points: shares of steps")
    eraser_fractions: tuple[float, ...] = param(ERASER_FRACTIONS, "comprehensiveness / sufficiency")
    headline_fraction: float = param(0.1, "attention vs random deletion: this share of steps")
    methods: tuple[str, ...] = param(METHODS, "step rankings to compare; attention is always included")
    skip_classes: tuple[str, ...] = param((), "classifiers: leave out samples predicted as these classes (e.g. normal)")
    max_samples: int = param(512, "test samples measured (a seeded random subset when the split is larger)")
    random_repeats: int = param(3, "random rankings averaged")
    ig_steps: int = param(32, "integrated gradients: points on the path from the baseline (the training mean)")
    batch_size: int = param(256, "samples per forward pass")
    seed: int = param(0, "seed of the sample subset and of the random rankings")

    def __post_init__(self):
        self.fractions = _fractions("fractions", self.fractions)
        self.eraser_fractions = _fractions("eraser_fractions", self.eraser_fractions)
        _fraction("headline_fraction", self.headline_fraction)
        unknown = sorted(set(self.methods) - set(METHODS))
        if unknown:
            raise InputError(f"methods: unknown {unknown}; expected some of {', '.join(METHODS)}")
        self.methods = tuple(m for m in METHODS if m in self.methods or m == "attention")
        check_fields(self)
        for name in ("max_samples", "random_repeats", "ig_steps", "batch_size"):
            if getattr(self, name) < 1:
                raise InputError(f"{name} must be >= 1, got {getattr(self, name)}")

    @property
    def grid(self) -> tuple[float, ...]:
        """Every fraction measured: the curve points, the ERASER bins and the headline fraction, sorted."""
        return tuple(sorted({*self.fractions, *self.eraser_fractions, self.headline_fraction, 1.0}))


def _fraction(name: str, value) -> float:
    try:
        f = float(value)
    except (TypeError, ValueError):
        raise InputError(f"{name}: expected a number in (0, 1], got {value!r}") from None
    if not 0.0 < f <= 1.0:  # also refuses nan
        raise InputError(f"{name}: a fraction of the time steps must lie in (0, 1], got {value}")
    return f


def _fractions(name: str, values) -> tuple[float, ...]:
    if isinstance(values, str | float | int):
        values = (values,)
    if not values:
        raise InputError(f"{name}: give at least one fraction in (0, 1]")
    return tuple(sorted({_fraction(name, v) for v in values}))
