"""What an optimiser is: the one interface every optimiser declares itself through, and the registry.

An optimiser is one class (in its own module, like an objective) that says, once:

- its ``name`` and ``summary`` (``--optimizer NAME`` and its help line);
- its ``options`` (:class:`~saddle.options.Option`: name, default, help and check), from which the
  configuration validates their values and the command line builds its flags;
- what it draws: ``minibatch`` (whether m changes the law of its trials) and ``own_noise`` (whether it
  adds noise of its own, which breaks the symmetries a shared mini-batch keeps);
- the state it keeps between steps (``state_vectors`` vectors of the state's length and
  ``state_scalars`` numbers, all starting at 0);
- its Numba step hook ``step`` (below), which the escape kernel template binds at compile time
  (:func:`saddle.kernels.cpu.specialise`), so a step makes no call and carries no branch on the
  optimiser;
- its section of the GPU twin (``gpu_code``), or ``None`` with ``gpu_refusal`` saying why.

``@register`` puts the class in the registry; the configuration, the command line, the kernels and
the theory read everything from there and name no optimiser.

The step hook
-------------
``step(run, tr, t, m, eta, u, state) -> bool`` moves the flat state ``u`` by one step of step t
(batch size m, step size eta after any schedule).  ``run`` is the run's record
(:func:`saddle.kernels.run_record`): its fields include every option the optimiser declares
(``run.momentum``).  ``tr`` is the trial (:class:`Trial`): its objective's packed parameters, its
random stream's key, the manifold's block layout and scratch arrays.  ``gradient(tr, kind, u, t, m,
eta)`` writes the objective's gradient at u into ``tr.g``: the exact one for ``kind`` =
EXACT_GRADIENT, the mean of the m per-sample gradients of step t for MINIBATCH_GRADIENT
(:mod:`saddle.objectives.base`); ``gradient`` is a name of the hook's module that the template binds
(:func:`saddle.kernels.cpu.objective_gradient`, over the objective's own hook).  The hook returns
True when the step left u unchanged bit for bit and every later step would too (an exact fixed point:
the trial ends FROZEN).
"""

from __future__ import annotations

from collections import namedtuple
from collections.abc import Callable, Mapping
from typing import Any, ClassVar

from saddle.options import ConfigError, Option

Trial = namedtuple("Trial", "objective sphere bs pf pa pi key0 key1 g p z x noise block")
"""What a step hook sees of its trial (a Numba named tuple, built once per trial by the kernel):
``objective`` (the objective's code, passed on to its hooks), ``sphere`` and ``bs`` (whether the
state is on spheres, and their block length), ``pf``, ``pa``, ``pi`` (the objective's packed
parameters), ``key0``, ``key1`` (the trial's stream key: seed and trial index), and scratch arrays of
the state's length: ``g`` (the gradient), ``p`` (its Riemannian part), ``z``, ``x``, ``noise``, and
``block`` (4 words of generator scratch)."""


def unbound_hook(*args: Any) -> Any:
    """Stands for a hook in a kernel template (``gradient`` in an optimiser's module, the hooks of
    :mod:`saddle.kernels.cpu`) until the template binds it
    (:func:`saddle.kernels.cpu.specialise`); never called."""
    raise RuntimeError("a kernel template's hook runs only inside a kernel that binds it")


class Optimizer:
    """The interface of an optimiser; subclass it, fill in the class attributes, and ``@register``.

    Class attributes
    ----------------
    name : str
        ``--optimizer NAME``.
    summary : str
        One line: what it does and where it comes from.
    options : tuple of Option
        Its options (their values reach its step hook as fields of the run record).
    minibatch : bool
        Whether it draws mini-batches (False: m does not change the law of its trials).
    own_noise : bool
        Whether it adds noise of its own (an isotropic term, a perturbation), so that a start that is
        a fixed point of the mini-batch noise is not one of it.
    plain_step : bool
        Whether its step is u <- R_u(-eta p) with p the Riemannian part of the gradient it draws (mini-batch
        or exact), no memory and no noise of its own: the step the linear theory (docs/theory.md) and the
        teacher-student network's reduced simulation assume (sgd and gd).
    state_vectors, state_scalars : int
        The state it keeps between steps: vectors of the state's length, and numbers (all start at 0).
    step : callable
        Its step hook (see the module).
    lanes : bool
        Whether the kernel may run it at small m in lockstep lanes (:func:`saddle.kernels.cpu.run_lanes`,
        whose lane step is sgd's: only sgd declares it).
    gpu_code : int or None
        The code of its section of saddle/kernels/escape.cu (None: not on the GPU, ``gpu_refusal``
        says why).
    rank : int
        Where it stands in listings (lower first; then by name).
    """

    name: ClassVar[str] = ""
    summary: ClassVar[str] = ""
    options: ClassVar[tuple[Option, ...]] = ()
    minibatch: ClassVar[bool] = True
    own_noise: ClassVar[bool] = False
    state_vectors: ClassVar[int] = 0
    state_scalars: ClassVar[int] = 0
    step: ClassVar[Callable[..., bool]]
    plain_step: ClassVar[bool] = False
    lanes: ClassVar[bool] = False
    gpu_code: ClassVar[int | None] = None
    gpu_refusal: ClassVar[str] = "escape.cu has no section for it yet"
    rank: ClassVar[int] = 50

    @classmethod
    def step_hook(cls) -> Callable[..., bool]:
        """The step hook as a plain function (the template rebinds its module's names)."""
        return cls.__dict__["step"].__func__ if "step" in cls.__dict__ else cls.step

    @classmethod
    def check_options(cls, values: Mapping[str, Any]) -> None:
        """Checks across its options (each option is checked on its own before); ConfigError if invalid."""


# ----------------------------------------------------------------------------------------- registry

_REGISTRY: dict[str, type[Optimizer]] = {}


def register(cls: type[Optimizer]) -> type[Optimizer]:
    """Class decorator: add an optimiser to the registry under ``cls.name``.

    Registering a second class under a taken name is an error; registering the same class again
    (a module imported twice) is not.
    """
    if not cls.name or not isinstance(cls.name, str):
        raise TypeError(f"{cls.__name__} needs a class attribute name")
    if "step" not in cls.__dict__ and not any("step" in b.__dict__ for b in cls.__mro__[1:-1]):
        raise TypeError(f"optimizer {cls.name!r} needs a step hook")
    old = _REGISTRY.get(cls.name)
    if old is not None and (old.__module__, old.__qualname__) != (cls.__module__, cls.__qualname__):
        raise ValueError(f"an optimizer named {cls.name!r} is already registered ({old.__module__}.{old.__qualname__})")
    _REGISTRY[cls.name] = cls
    return cls


def unregister(name: str) -> None:
    """Remove an optimiser from the registry (tests that register their own clean up with this)."""
    _REGISTRY.pop(name, None)


def registered() -> Mapping[str, type[Optimizer]]:
    """Every registered optimiser, by name, in listing order (``rank``, then name)."""
    return dict(sorted(_REGISTRY.items(), key=lambda item: (item[1].rank, item[0])))


def get(name: str) -> type[Optimizer]:
    """The optimiser registered under ``name``; ConfigError naming the choices if there is none."""
    if not isinstance(name, str) or name not in _REGISTRY:
        raise ConfigError(f"unknown optimizer {name!r}; choose one of {', '.join(registered())}")
    return _REGISTRY[name]


def all_options() -> tuple[Option, ...]:
    """Every registered optimiser's options, each name once (the first declaration), in listing order."""
    seen: dict[str, Option] = {}
    for cls in registered().values():
        for option in cls.options:
            seen.setdefault(option.name, option)
    return tuple(seen.values())


def users(option: str) -> tuple[str, ...]:
    """The optimisers that take an option."""
    return tuple(name for name, cls in registered().items() if any(o.name == option for o in cls.options))


class OptimizerParams(dict[str, Any]):
    """Option values by name for :func:`saddle.kernels.run_trials`: the optimiser's own options
    (``momentum``, ``perturbation_radius``, ...) and the older schedule options (``lr_decay``: the step
    size eta / (1 + t / lr_decay); ``batch_after_drop``: the batch size after the first f-drop; a
    schedule is :mod:`saddle.schedules`' now).  An option left out is 0 (off).  Attributes read the
    values: ``params.momentum``."""

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__"):
            raise AttributeError(name)
        return self.get(name, 0)
