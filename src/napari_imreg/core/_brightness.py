"""The brightness relation fitted between the images, profiled out of chi2 analytically.

For a shift ``s`` the overlap sums (weights ``w(x) = a(x) b(x - s)``, see
:mod:`napari_imreg.core._chi2`) are::

    W = sum w          R = sum w R          M = sum w M'
    RR = sum w R**2    MM = sum w M'**2     RM = sum w R M'

with ``M'(x) = M(x - s)``. Each is one cross-correlation, a function of ``s`` that the
surface code already makes (``W``: corr(a, b); ``R``: corr(aR, b); ``M``: corr(a, bM);
``RR``: corr(aR**2, b); ``MM``: corr(a, bM**2); ``RM``: corr(aR, bM)). The residual
``sum w (R - g M' - c)**2`` minimised over the fitted gain ``g`` and offset ``c`` is
then a closed form in the six sums:

* ``"none"`` (``g = 1, c = 0``): ``RR - 2 RM + MM``;
* ``"offset"`` (``g = 1``): that minus ``(R - M)**2 / W``, today's ``zero_mean=True``;
* ``"scale+offset"``: with the centred sums ``Crr = RR - R**2/W``, ``Cmm = MM - M**2/W``,
  ``Crm = RM - R M / W``, the residual is ``Crr - Crm**2 / Cmm = Crr (1 - rho**2)``,
  ``rho`` the weighted correlation of the images over the overlap, at
  ``g = Crm / Cmm`` and ``c = (R - g M) / W``. The gain is held at zero or above
  (a contrast inversion is no match): where ``Crm < 0`` the residual is ``Crr``.

The fit costs no search: the whole-pixel search evaluates the closed form on the grids
of the six sums, and Newton's method evaluates it on their values and derivatives at
one sub-pixel shift (:class:`Jet` carries value, gradient and Hessian through the
same formula, so the Hessian is that of the profiled chi2 and the Fisher errors
account for the fitted gain and offset: profiling is the Schur complement).

The sums are those of whichever images the pipeline compares (filtered, masked,
tapered): this module only combines them.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Literal

import numpy as np

__all__ = [
    "BRIGHTNESS_FITS",
    "BrightnessFit",
    "Jet",
    "OverlapSums",
    "ProfiledSurface",
    "check_brightness",
    "fitted_count",
    "profiled_residual",
]

Brightness = Literal["scale+offset", "offset", "none"]
BRIGHTNESS_FITS = ("scale+offset", "offset", "none")
#: A centred moving power below this fraction of the reference's leaves the gain
#: unconstrained (a flat moving overlap): no gain is fitted there.
FLAT = 1e-12


def check_brightness(brightness, zero_mean=None) -> str:
    """The brightness fit named by ``brightness``, or by the older ``zero_mean``.

    ``brightness`` None follows ``zero_mean`` (True: ``"offset"``, False:
    ``"none"``), and both None give ``"scale+offset"``. Both given must agree.

    Examples
    --------
    >>> check_brightness(None), check_brightness(None, zero_mean=False)
    ('scale+offset', 'none')
    """
    if zero_mean is not None and not isinstance(zero_mean, bool | np.bool_ | int):
        raise TypeError(
            f"zero_mean must be True, False or None, got {zero_mean!r}; or name what is "
            f"fitted with brightness={BRIGHTNESS_FITS}."
        )
    if brightness is None:
        if zero_mean is None:
            return "scale+offset"
        return "offset" if bool(zero_mean) else "none"
    if brightness not in BRIGHTNESS_FITS:
        raise ValueError(
            f"brightness must be one of {BRIGHTNESS_FITS}, got {brightness!r}; "
            '"scale+offset" fits a gain and an offset between the images.'
        )
    if zero_mean is not None and bool(zero_mean) != (brightness != "none"):
        raise ValueError(
            f"zero_mean={zero_mean!r} contradicts brightness={brightness!r}: "
            "give only brightness (zero_mean=True is brightness='offset')."
        )
    return brightness


def fitted_count(brightness: str) -> int:
    """How many brightness parameters a fit uses (for the degrees of freedom)."""
    return {"scale+offset": 2, "offset": 1, "none": 0}[brightness]


class Jet:
    """A value with its gradient and Hessian in the shift, closed under + - * /.

    Lets one formula serve both the grids of the whole-pixel search (numpy arrays)
    and Newton's method at a sub-pixel shift (a Jet per sum).
    """

    __slots__ = ("grad", "hess", "value")

    def __init__(self, value, grad, hess):
        self.value = float(value)
        self.grad = np.asarray(grad, dtype=np.float64)
        self.hess = np.asarray(hess, dtype=np.float64)

    @classmethod
    def constant(cls, value, ndim: int) -> Jet:
        return cls(value, np.zeros(ndim), np.zeros((ndim, ndim)))

    def _lift(self, other) -> Jet:
        return other if isinstance(other, Jet) else Jet.constant(other, self.grad.size)

    def __add__(self, other):
        other = self._lift(other)
        return Jet(self.value + other.value, self.grad + other.grad, self.hess + other.hess)

    __radd__ = __add__

    def __neg__(self):
        return Jet(-self.value, -self.grad, -self.hess)

    def __sub__(self, other):
        return self + (-self._lift(other))

    def __rsub__(self, other):
        return self._lift(other) - self

    def __mul__(self, other):
        other = self._lift(other)
        cross = np.outer(self.grad, other.grad)
        return Jet(
            self.value * other.value,
            self.grad * other.value + self.value * other.grad,
            self.hess * other.value + self.value * other.hess + cross + cross.T,
        )

    __rmul__ = __mul__

    def reciprocal(self) -> Jet:
        v = self.value
        return Jet(
            1.0 / v,
            -self.grad / v**2,
            -self.hess / v**2 + 2.0 * np.outer(self.grad, self.grad) / v**3,
        )

    def __truediv__(self, other):
        return self * self._lift(other).reciprocal()

    def __rtruediv__(self, other):
        return self._lift(other) * self.reciprocal()


@dataclass(frozen=True)
class OverlapSums:
    """The six weighted sums over the overlap at a shift (arrays over a grid of
    shifts, floats, or :class:`Jet`); see the module docstring."""

    w: object
    r: object
    m: object
    rr: object
    mm: object
    rm: object


@dataclass(frozen=True)
class BrightnessFit:
    """The residual minimised over the fitted brightness, and the fit.

    ``residual`` is ``min sum w (R - scale M' - offset)**2``; ``scale`` and
    ``offset`` the gain and offset that reach it (1 and 0 where not fitted). Each
    has the type of the sums (array, float or :class:`Jet`).
    """

    residual: object
    scale: object
    offset: object


def _value(x):
    return x.value if isinstance(x, Jet) else x


def profiled_residual(sums: OverlapSums, brightness: str) -> BrightnessFit:
    """Minimise the weighted residual over the brightness fit, in closed form.

    Parameters
    ----------
    sums : OverlapSums
        The weighted sums at one shift or on a grid of shifts.
    brightness : {"scale+offset", "offset", "none"}
        What is fitted between the images.

    Returns
    -------
    BrightnessFit
        The profiled residual (chi2 times the noise variance, for weights of one;
        chi2 itself for weights of ``1 / variance``), the gain and the offset.

    Notes
    -----
    With ``Crr, Cmm, Crm`` the centred sums, the residual of a gain ``g`` and the
    best offset is ``Crr - 2 g Crm + g**2 Cmm``, least at ``g = Crm / Cmm``. Where the
    moving overlap is flat (``Cmm`` ~ 0) or anti-correlated (``Crm < 0``) the gain
    is zero and the residual ``Crr``: the images do not match there.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> ref = rng.normal(size=100)
    >>> mov = 0.5 * ref - 3.0
    >>> sums = OverlapSums(100.0, ref.sum(), mov.sum(), (ref**2).sum(), (mov**2).sum(),
    ...                    (ref * mov).sum())
    >>> fit = profiled_residual(sums, "scale+offset")
    >>> round(float(fit.scale), 6), round(float(fit.offset), 6), bool(abs(fit.residual) < 1e-9)
    (2.0, 6.0, True)
    """
    w, r, m, rr, mm, rm = sums.w, sums.r, sums.m, sums.rr, sums.mm, sums.rm
    if brightness == "none":
        return BrightnessFit(rr - 2.0 * rm + mm, 1.0, 0.0)
    if brightness == "offset":
        difference = r - m
        return BrightnessFit(rr - 2.0 * rm + mm - difference * difference / w, 1.0, difference / w)
    if brightness != "scale+offset":
        raise ValueError(f"brightness must be one of {BRIGHTNESS_FITS}, got {brightness!r}.")
    crr = rr - r * r / w
    cmm = mm - m * m / w
    crm = rm - r * m / w
    if isinstance(crm, Jet) or isinstance(cmm, Jet):
        # One shift: the branch is the value's.
        if _value(crm) > 0 and _value(cmm) > FLAT * abs(_value(crr)):
            gain = crm / cmm
            return BrightnessFit(crr - crm * gain, gain, (r - gain * m) / w)
        return BrightnessFit(crr, 0.0, r / w)
    with np.errstate(divide="ignore", invalid="ignore"):
        matched = (crm > 0) & (cmm > FLAT * np.abs(crr))
        gain = np.where(matched, crm / np.where(matched, cmm, 1.0), 0.0)
        residual = crr - gain * crm
        offset = (r - gain * m) / w
    return BrightnessFit(residual, gain, offset)


class ProfiledSurface:
    """The mean weighted residual over the overlap, the brightness fit profiled out:
    ``f(s) = min_{g, c} sum w (R - g M' - c)**2 / W``, from the sums as terms of the
    shift (:class:`~napari_imreg.core._chi2.Term`).

    It offers what the stages ask of a :class:`~napari_imreg.core._chi2.Surface`
    (``shape``, ``weight``, ``grid``, ``values``, ``derivatives``, ``weight_at``,
    ``reference_share``, ``filtered_cross``), so the whole-pixel search, Newton's
    method, the errors and the delta-chi2 map run on it unchanged. :meth:`for_search`
    gives the whole-pixel search's score, ``1 - rho**2``: the mean residual would
    favour a flat overlap, which a free gain matches whatever the shift.
    """

    def __init__(self, sums: OverlapSums, brightness: str, shape, *, filtered_cross=None):
        self.sums = sums
        self.brightness = brightness
        self.shape = tuple(shape)
        self.normalised = False
        self._filtered_cross = filtered_cross
        #: The fitted gain at the minimum, once known: it scales the signal's part
        #: of the score's covariance (``filtered_cross``).
        self.gain = 1.0

    @property
    def weight(self):
        return self.sums.w

    def for_search(self) -> ProfiledSurface:
        """This surface scoring ``1 - rho**2`` (scale fitted) for the whole-pixel search."""
        out = ProfiledSurface(self.sums, self.brightness, self.shape)
        out.normalised = self.brightness == "scale+offset"
        return out

    def _terms(self) -> list:
        s = self.sums
        return [s.w, s.r, s.m, s.rr, s.mm, s.rm]

    def _score(self, values) -> np.ndarray:
        fit = profiled_residual(OverlapSums(*values), self.brightness)
        w, r, rr = values[0], values[1], values[3]
        with np.errstate(divide="ignore", invalid="ignore"):
            if self.normalised:
                # A flat reference overlap correlates with nothing: 1 - rho**2 = 1.
                divisor = rr - r * r / w
                score = np.where(divisor > 0, fit.residual / divisor, 1.0)
            else:
                score = fit.residual / w
            return np.where(np.asarray(w) > 0, score, np.inf)

    def grid(self, threads=None, window=None):
        """The score at every whole-pixel shift (FFT layout, or ``window``) and ``W``
        (None when constant)."""
        values = [term.grid(threads, window=window) for term in self._terms()]
        shape = np.broadcast_shapes(*[np.shape(v) for v in values])
        score = np.array(np.broadcast_to(self._score(values), shape), dtype=np.float64)
        weight = None if self.sums.w.is_constant else np.asarray(values[0])
        return score, weight

    def values(self, positions) -> np.ndarray:
        """The score on the tensor grid of ``positions`` (one array of shifts per axis)."""
        orders = [(0,)] * len(positions)
        return self._score([term.tensor(positions, orders) for term in self._terms()])

    def fit_at(self, point) -> BrightnessFit:
        """The gain, offset and residual at one shift (floats)."""
        orders = [(0,)] * len(point)
        at = [[p] for p in point]
        values = [float(term.tensor(at, orders).reshape(-1)[0]) for term in self._terms()]
        if not values[0] > 0:
            return BrightnessFit(0.0, 1.0, 0.0)
        fit = profiled_residual(OverlapSums(*values), self.brightness)
        return BrightnessFit(
            *(float(np.asarray(v)) for v in (fit.residual, fit.scale, fit.offset))
        )

    def dilution(self, point, variance: float) -> float:
        """The fitted gain over the true one at ``point``, for a moving noise of
        ``variance`` (as compared: filtered): ``a = 1 - W variance / Cmm``, the moving
        image's centred power ``Cmm = MM - M**2 / W`` holding its noise too. The
        residual's moving part is then ``g g_true variance = g**2 variance / a``."""
        at = [[p] for p in point]
        orders = [(0,)] * len(point)
        w, m, mm = (
            float(term.tensor(at, orders).reshape(-1)[0])
            for term in (self.sums.w, self.sums.m, self.sums.mm)
        )
        spread = mm - m * m / w if w > 0 else 0.0
        if not (spread > 0 and variance > 0):
            return 1.0
        return float(np.clip(1.0 - w * variance / spread, 0.05, 1.0))

    def derivatives(self, point, *, third: bool = False):
        """Value, gradient and Hessian of ``f`` at one shift (with ``third``, a fourth
        item None: Newton's steps on the profile are quadratic)."""
        jets = [Jet(*term.derivatives(point)) for term in self._terms()]
        if not jets[0].value > 0:  # no overlap left there: not a candidate
            ndim = len(point)
            out = (np.inf, np.zeros(ndim), np.zeros((ndim, ndim)))
        else:
            f = profiled_residual(OverlapSums(*jets), self.brightness).residual / jets[0]
            out = (f.value, f.grad, f.hess)
        return (*out, None) if third else out

    def weight_at(self, point) -> float:
        return float(self.sums.w.derivatives(point)[0])

    def reference_share(self, point, value: float) -> float:
        """Half: with a fitted gain the residual cannot be split between the images
        (at the fitted gain ``sum w R (R - g M' - c)`` is the whole residual)."""
        return 0.5

    @property
    def filtered_cross(self):
        """The filtered cross term times the fitted gain (None: images not filtered)."""
        if self._filtered_cross is None:
            return None
        return dataclasses.replace(
            self._filtered_cross, scale=self._filtered_cross.scale * self.gain
        )
