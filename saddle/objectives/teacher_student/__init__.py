"""teacher-student: the symmetric plateau of a two-layer network (docs/objectives.md, teacher-student).

``model`` holds the maths in plain NumPy, ``kernels`` the Numba hooks of the escape kernel (a full
simulation of W and the exact reduced Markov chain on (Q, R)), ``ode`` the N -> infinity theory of
Saad and Solla (1995): closed-form averages, the ODE, the plateau fixed point, its escape rate and a
prediction of the plateau exit time; ``objective`` registers it as ``--objective teacher-student``.
"""

from saddle.objectives.teacher_student.kernels import FULL, HOOKS, REDUCED, pack
from saddle.objectives.teacher_student.model import (
    TeacherStudent,
    generalisation_error,
    plateau_closed_form,
    symmetric_order_parameters,
)
from saddle.objectives.teacher_student.objective import TeacherStudentObjective
from saddle.objectives.teacher_student.ode import ExitPrediction, Plateau, plateau, predict_exit

__all__ = [
    "FULL",
    "HOOKS",
    "REDUCED",
    "ExitPrediction",
    "Plateau",
    "TeacherStudent",
    "TeacherStudentObjective",
    "generalisation_error",
    "pack",
    "plateau",
    "plateau_closed_form",
    "predict_exit",
    "symmetric_order_parameters",
]
