"""Schedules of the step size and the batch size (docs/schedules.md): one module per rule.

- :class:`~saddle.schedules.trigger.Trigger`: when a rule starts acting (the start, the f-drop, a
  step, an f level);
- :class:`~saddle.schedules.batch.BatchSwitch`: m -> m' (the seed's "finish with m = 1"; Smith et
  al. 2018's increase);
- :class:`~saddle.schedules.inverse_time.InverseTime`: eta / (1 + tau / t0);
- :class:`~saddle.schedules.step_decay.StepDecay`: eta x gamma^floor(tau / every);
- :class:`~saddle.schedules.schedule.Schedule`: one of each (and a sample budget after the f-drop),
  with its text form (``--schedule 'm=1@drop,budget=100000'``).

A schedule is data in the run record (:meth:`Schedule.fields`): every schedule runs in the same
compiled kernel.  Adding a step-size rule is one module: a frozen dataclass subclassing
:class:`~saddle.schedules.base.StepRule`, ``@register``-ed, and its branch in
:func:`saddle.kernels.cpu.scheduled_eta` (the kernel's one schedule function).
"""

from saddle.schedules.base import StepRule, register, rules
from saddle.schedules.batch import BatchSwitch
from saddle.schedules.inverse_time import InverseTime
from saddle.schedules.schedule import Schedule, legacy
from saddle.schedules.step_decay import StepDecay
from saddle.schedules.trigger import Trigger

__all__ = ["BatchSwitch", "InverseTime", "Schedule", "StepDecay", "StepRule", "Trigger", "legacy", "register", "rules"]
