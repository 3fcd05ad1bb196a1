"""Root finding that reproduces R's ``uniroot`` (Brent's method as in R's ``zeroin.c``).

metafor finds the Paule-Mandel estimate and the Q-profile limits with ``uniroot`` at its default
tolerance (about 1.2e-4). Using the same iteration here means the results agree with metafor to
far better than that tolerance, not just to within it.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from research.errors import ConvergenceError

R_DEFAULT_TOL = float(np.finfo(float).eps ** 0.25)
_EPS = float(np.finfo(float).eps)


def uniroot(
    f: Callable[[float], float],
    lower: float,
    upper: float,
    *,
    tol: float = R_DEFAULT_TOL,
    maxiter: int = 1000,
    what: str = "root",
) -> float:
    """Root of ``f`` in [lower, upper]; ``f`` must change sign over the interval."""
    f_lower, f_upper = f(lower), f(upper)
    if not (np.isfinite(f_lower) and np.isfinite(f_upper)):
        raise ConvergenceError(f"{what}: the function is not finite at the ends of [{lower}, {upper}]")
    if f_lower * f_upper > 0:
        raise ConvergenceError(f"{what}: no sign change over [{lower}, {upper}]")
    return _brent(f, lower, upper, f_lower, f_upper, tol, maxiter, what)


def _brent(f, a, b, fa, fb, tol, maxiter, what) -> float:
    if fa == 0.0:
        return a
    if fb == 0.0:
        return b
    c, fc = a, fa
    for _ in range(maxiter + 1):
        prev_step = b - a
        if abs(fc) < abs(fb):
            # keep b as the best approximation so far
            a, b, c = b, c, b
            fa, fb, fc = fb, fc, fb
        tol_act = 2 * _EPS * abs(b) + tol / 2
        new_step = (c - b) / 2
        if abs(new_step) <= tol_act or fb == 0.0:
            return b
        if abs(prev_step) >= tol_act and abs(fa) > abs(fb):
            cb = c - b
            if a == c:  # two points: secant step
                t1 = fb / fa
                p = cb * t1
                q = 1.0 - t1
            else:  # three points: inverse quadratic interpolation
                q = fa / fc
                t1 = fb / fc
                t2 = fb / fa
                p = t2 * (cb * q * (q - t1) - (b - a) * (t1 - 1.0))
                q = (q - 1.0) * (t1 - 1.0) * (t2 - 1.0)
            if p > 0:
                q = -q
            else:
                p = -p
            if p < (0.75 * cb * q - abs(tol_act * q) / 2) and p < abs(prev_step * q / 2):
                new_step = p / q
        if abs(new_step) < tol_act:
            new_step = tol_act if new_step > 0 else -tol_act
        a, fa = b, fb
        b += new_step
        fb = f(b)
        if (fb > 0 and fc > 0) or (fb < 0 and fc < 0):
            c, fc = a, fa
    raise ConvergenceError(f"{what}: root search did not converge in {maxiter} iterations")
