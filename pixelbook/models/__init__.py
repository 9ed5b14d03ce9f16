"""The registry: ``names()`` and ``create(name, image_shape, levels, **size)``.

A family registers itself with ``@register("slug")``; the contract tests then cover it."""

import inspect

from ..errors import InputError, UnknownNameError, known

_FAMILIES = {}


def register(name):
    def add(cls):
        cls.name = name
        _FAMILIES[name] = cls
        return cls
    return add


def names():
    return list(_FAMILIES)


def family(name):
    if name not in _FAMILIES:
        raise UnknownNameError(f"unknown model {name!r}; known: {known(_FAMILIES)}")
    return _FAMILIES[name]


def size_knobs(name) -> dict:
    """The paper's size knobs of a family and their small defaults."""
    params = inspect.signature(family(name).__init__).parameters
    return {k: p.default for k, p in params.items()
            if k not in ("self", "image_shape", "levels") and p.default is not inspect.Parameter.empty}


def create(name, image_shape, levels=256, **size):
    knobs = size_knobs(name)
    unknown = set(size) - set(knobs)
    if unknown:
        raise InputError(f"{name} has no size knob {', '.join(sorted(unknown))}; its knobs: {known(knobs)}")
    model = family(name)(image_shape=tuple(image_shape), levels=levels, **size)
    model.config = {"model": name, "image_shape": list(model.image_shape), "levels": model.levels,
                    "size": {**knobs, **size}}
    return model


from . import pixelcnn, pixelrnn, gated_pixelcnn, pixelcnn_pp, auxiliary, igpt  # noqa: E402,F401  (registers the families)
