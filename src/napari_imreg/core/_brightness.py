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
* ``"scale+offset+tilt"``: the same with a linear background too,
  ``R ~ g M' + c + t . x`` (``x`` the reference's pixel coordinates from its centre,
  :func:`tilt_coordinates`). The centred sums are then those with the offset and
  every coordinate projected out: the Gram matrix of ``(1, x_1, .., x_n, R, M')``
  with the nuisances eliminated one by one (a Schur complement). Its entries are
  the six sums and ``sum w x_i``, ``sum w x_i x_j``, ``sum w R x_i``, ``sum w M' x_i``:
  again correlations of one side's weighted values with the other's weight
  (:class:`TiltSums`), so the tilt costs more FFTs but no search.

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

from ._rows import block_rows

__all__ = [
    "BRIGHTNESS_FITS",
    "BrightnessFit",
    "Jet",
    "OverlapSums",
    "ProfiledSurface",
    "TiltSums",
    "check_brightness",
    "detrended",
    "fits_tilt",
    "fitted_count",
    "profiled_residual",
    "tilt_coordinates",
]

Brightness = Literal["scale+offset", "scale+offset+tilt", "offset", "none"]
BRIGHTNESS_FITS = ("scale+offset", "scale+offset+tilt", "offset", "none")
#: A centred moving power below this fraction of its raw power (the sum of its
#: squares, whose centring cancels to round-off) leaves the gain unconstrained (a
#: flat moving overlap): no gain is fitted there. It is the moving image's own
#: measure, so the two images' units do not matter: against the reference's
#: power, a moving image 1e-7 of the reference's brightness was taken for flat.
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


def fits_tilt(brightness: str) -> bool:
    """Whether ``brightness`` fits a linear background (one slope per axis)."""
    return brightness == "scale+offset+tilt"


def detrended(image: np.ndarray, valid=None) -> np.ndarray:
    """``image`` less its weighted least-squares plane (offset and one slope per axis)
    over the ``valid`` pixels (all when None), zero where not valid: a new array.

    The significance test's view of an image when a tilt is fitted: a background
    ramp is smooth, so left in it would lengthen the images' correlation and hide a
    match the tilted chi2 measures well.
    """
    weight = np.ones(image.shape) if valid is None else np.asarray(valid, dtype=np.float64)
    basis = [np.ones(image.shape)]
    for axis, c in enumerate(tilt_coordinates(image.shape)):
        basis.append(
            np.broadcast_to(
                c.reshape([-1 if a == axis else 1 for a in range(image.ndim)]), image.shape
            )
        )
    gram = np.array([[float(np.sum(weight * u * v)) for v in basis] for u in basis])
    target = np.array([float(np.sum(weight * u * image)) for u in basis])
    solution = np.linalg.lstsq(gram, target, rcond=None)[0]
    plane = sum(c * u for c, u in zip(solution, basis, strict=True))
    return (image - plane) * weight


def fitted_count(brightness: str, ndim: int) -> int:
    """How many brightness parameters a fit uses (for the degrees of freedom)."""
    return {"scale+offset": 2, "scale+offset+tilt": 2 + ndim, "offset": 1, "none": 0}[brightness]


def tilt_coordinates(shape) -> list[np.ndarray]:
    """Each axis's pixel coordinate from the image's centre, as a 1-D array: the
    tilt's basis (a slope is per pixel; the offset is then the centre's level)."""
    return [np.arange(n, dtype=np.float64) - (n - 1) / 2.0 for n in shape]


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
    def _of(cls, value, grad: np.ndarray, hess: np.ndarray) -> Jet:
        """A Jet of float64 arrays made by the operations below (no conversion:
        Newton's steps on the profiled surface build a few hundred)."""
        jet = object.__new__(cls)
        jet.value, jet.grad, jet.hess = float(value), grad, hess
        return jet

    @classmethod
    def constant(cls, value, ndim: int) -> Jet:
        return cls._of(value, np.zeros(ndim), np.zeros((ndim, ndim)))

    def _lift(self, other) -> Jet:
        return other if isinstance(other, Jet) else Jet.constant(other, self.grad.size)

    def __add__(self, other):
        other = self._lift(other)
        return Jet._of(self.value + other.value, self.grad + other.grad, self.hess + other.hess)

    __radd__ = __add__

    def __neg__(self):
        return Jet._of(-self.value, -self.grad, -self.hess)

    def __sub__(self, other):
        return self + (-self._lift(other))

    def __rsub__(self, other):
        return self._lift(other) - self

    def __mul__(self, other):
        other = self._lift(other)
        cross = self.grad[:, None] * other.grad  # np.outer's products
        return Jet._of(
            self.value * other.value,
            self.grad * other.value + self.value * other.grad,
            self.hess * other.value + self.value * other.hess + cross + cross.T,
        )

    __rmul__ = __mul__

    def reciprocal(self) -> Jet:
        v = self.value
        return Jet._of(
            1.0 / v,
            -self.grad / v**2,
            -self.hess / v**2 + 2.0 * (self.grad[:, None] * self.grad) / v**3,
        )

    def __truediv__(self, other):
        return self * self._lift(other).reciprocal()

    def __rtruediv__(self, other):
        return self._lift(other) * self.reciprocal()

    def sqrt(self) -> Jet:
        root = np.sqrt(self.value)
        return Jet._of(
            root,
            self.grad / (2.0 * root),
            self.hess / (2.0 * root) - (self.grad[:, None] * self.grad) / (4.0 * root**3),
        )


@dataclass(frozen=True)
class TiltSums:
    """The overlap sums a linear background adds, ``x`` the reference's coordinates:
    ``w_x[i] = sum w x_i``, ``w_xx[k] = sum w x_i x_j`` (pairs ``i <= j`` in the order
    of :func:`_pairs`), ``r_x[i] = sum w R x_i``, ``m_x[i] = sum w M' x_i``."""

    w_x: tuple
    w_xx: tuple
    r_x: tuple
    m_x: tuple

    def terms(self) -> list:
        return [*self.w_x, *self.w_xx, *self.r_x, *self.m_x]

    def like(self, values) -> TiltSums:
        """These sums' structure filled with ``values`` (as many, in :meth:`terms` order)."""
        n = len(self.w_x)
        cuts = np.cumsum([n, len(self.w_xx), n])
        return TiltSums(
            tuple(values[: cuts[0]]),
            tuple(values[cuts[0] : cuts[1]]),
            tuple(values[cuts[1] : cuts[2]]),
            tuple(values[cuts[2] :]),
        )


def _pairs(ndim: int) -> list[tuple[int, int]]:
    """The coordinate pairs ``i <= j`` of :attr:`TiltSums.w_xx`, in order."""
    return [(i, j) for i in range(ndim) for j in range(i, ndim)]


@dataclass(frozen=True)
class OverlapSums:
    """The six weighted sums over the overlap at a shift (arrays over a grid of
    shifts, floats, or :class:`Jet`), and a tilt's (None: no tilt); see the module
    docstring."""

    w: object
    r: object
    m: object
    rr: object
    mm: object
    rm: object
    tilt: TiltSums | None = None

    def terms(self) -> list:
        """Every sum, in a fixed order (the six, then the tilt's)."""
        own = [self.w, self.r, self.m, self.rr, self.mm, self.rm]
        return own if self.tilt is None else own + self.tilt.terms()

    def like(self, values) -> OverlapSums:
        """These sums' structure filled with ``values`` (in :meth:`terms` order)."""
        tilt = None if self.tilt is None else self.tilt.like(values[6:])
        return OverlapSums(*values[:6], tilt=tilt)


def centred_sums(sums: OverlapSums) -> tuple:
    """``Crr, Cmm, Crm``: the sums of ``R`` and ``M'`` with the offset (and the tilt's
    coordinates) projected out, by eliminating each from their Gram matrix in turn."""
    if sums.tilt is None:
        w, r, m = sums.w, sums.r, sums.m
        return sums.rr - r * r / w, sums.mm - m * m / w, sums.rm - r * m / w
    t = sums.tilt
    ndim = len(t.w_x)
    nuisances = ["1", *(f"x{i}" for i in range(ndim))]

    def key(u, v):
        return (u, v) if u <= v else (v, u)

    gram = {("1", "1"): sums.w, ("R", "R"): sums.rr, ("M", "M"): sums.mm, ("M", "R"): sums.rm}
    gram[("1", "R")], gram[("1", "M")] = sums.r, sums.m
    for i in range(ndim):
        gram[("1", f"x{i}")] = t.w_x[i]
        gram[("R", f"x{i}")], gram[("M", f"x{i}")] = t.r_x[i], t.m_x[i]
    for (i, j), value in zip(_pairs(ndim), t.w_xx, strict=True):
        gram[(f"x{i}", f"x{j}")] = value
    left = [*nuisances, "R", "M"]
    for k in nuisances:
        left.remove(k)
        pivot = gram[key(k, k)]
        column = {u: gram[key(u, k)] for u in left}
        for a, u in enumerate(left):
            for v in left[a:]:
                gram[key(u, v)] = gram[key(u, v)] - column[u] * column[v] / pivot
    return gram[("R", "R")], gram[("M", "M")], gram[("M", "R")]


@dataclass(frozen=True)
class BrightnessFit:
    """The residual minimised over the fitted brightness, and the fit.

    ``residual`` is ``min sum w (R - scale M' - offset - tilt . x)**2``; ``scale`` and
    ``offset`` the gain and offset that reach it (1 and 0 where not fitted; the
    offset None on grids and jets when a tilt is fitted: :meth:`ProfiledSurface.fit_at`
    solves for it). Each has the type of the sums (array, float or :class:`Jet`).
    ``spread`` is ``Crr``, the reference's residual power once the offset (and tilt)
    are fitted to it alone; ``tilt`` the slope per pixel along each axis (only from
    :meth:`ProfiledSurface.fit_at`).
    """

    residual: object
    scale: object
    offset: object
    spread: object = None
    tilt: tuple | None = None


def _value(x):
    return x.value if isinstance(x, Jet) else x


def profiled_residual(
    sums: OverlapSums, brightness: str, *, offset: bool = True, noise: tuple | None = None
) -> BrightnessFit:
    """Minimise the weighted residual over the brightness fit, in closed form.

    Parameters
    ----------
    sums : OverlapSums
        The weighted sums at one shift or on a grid of shifts.
    brightness : {"scale+offset", "offset", "none"}
        What is fitted between the images.
    offset : bool
        Whether to return the offset on a grid of shifts (the whole-pixel search
        scores the residual alone: None then).
    noise : tuple or None
        ``(s_R, s_M)``: the two images' noise variances (each in its own units);
        given, a fitted gain is the errors-in-variables one
        (:func:`_errors_in_variables`), else least squares of ``R`` on ``M'``.

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
    if brightness not in ("scale+offset", "scale+offset+tilt"):
        raise ValueError(f"brightness must be one of {BRIGHTNESS_FITS}, got {brightness!r}.")
    crr, cmm, crm = centred_sums(sums)
    tilted = sums.tilt is not None
    if isinstance(crm, Jet) or isinstance(cmm, Jet):
        # One shift: the branch is the value's.
        if _value(crm) > 0 and _value(cmm) > FLAT * abs(_value(mm)):
            if noise is None:
                gain = crm / cmm
                residual = crr - crm * gain
            else:
                gain, residual = _errors_in_variables(crr, cmm, crm, noise)
            offset = None if tilted else (r - gain * m) / w
            return BrightnessFit(residual, gain, offset, crr)
        return BrightnessFit(crr, 0.0, None if tilted else r / w, crr)
    with np.errstate(divide="ignore", invalid="ignore"):
        matched = (crm > 0) & (cmm > FLAT * np.abs(mm))
        if noise is None:
            gain = np.zeros(np.shape(matched))
            np.divide(crm, cmm, out=gain, where=matched)
            residual = crr - gain * crm
        else:
            gain, residual = _errors_in_variables(crr, cmm, crm, noise)
            gain = np.where(matched, gain, 0.0)
            residual = np.where(matched, residual, crr)
        fitted = None if tilted or not offset else (r - gain * m) / w
    return BrightnessFit(residual, gain, fitted, crr)


def _errors_in_variables(crr, cmm, crm, noise: tuple):
    """The gain and residual of ``R ~ g M'`` when both images are noisy (Deming's
    regression): ``g`` minimises ``(Crr - 2 g Crm + g**2 Cmm) / (s_R + g**2 s_M)``,
    the larger root of ``s_M Crm g**2 + (s_R Cmm - s_M Crr) g - s_R Crm = 0``; the
    residual is that minimum times ``s_R + s_M`` (the units of a difference at unit
    gain). ``noise`` is ``(s_R, s_M)``.

    Least squares of ``R`` on ``M'`` (``g = Crm / Cmm``) takes ``M'``'s noise for
    signal: its gain is diluted by ``Cmm / (Cmm + W s_M)``, and the dilution varies
    with the shift wherever the overlap's power does, which biases the shift. With
    ``s_M = 0`` this is least squares; with ``s_R = 0``, ``g = Crr / Crm``.
    """
    s_r, s_m = noise
    scale = s_r + s_m
    d = crr * s_m - cmm * s_r
    square = d * d + 4.0 * s_m * s_r * crm * crm
    # The larger root, in the form that does not cancel for either sign of d.
    if isinstance(square, Jet) or isinstance(crm, Jet):
        root = Jet.sqrt(square) if isinstance(square, Jet) else float(np.sqrt(square))
        gain = (d + root) / (2.0 * s_m * crm) if _value(d) >= 0 else 2.0 * s_r * crm / (root - d)
    else:
        root = np.sqrt(square)
        gain = np.where(d >= 0, (d + root) / (2.0 * s_m * crm), 2.0 * s_r * crm / (root - d))
    residual = (crr - 2.0 * gain * crm + gain * gain * cmm) * (scale / (s_r + s_m * gain * gain))
    return gain, residual


def background_fit(sums: OverlapSums, gain: float) -> tuple[float, tuple]:
    """The offset and per-pixel slopes of ``R - gain M'`` at one shift (floats): the
    normal equations of the nuisances, solved."""
    t = sums.tilt
    ndim = len(t.w_x)
    gram = np.empty((ndim + 1, ndim + 1))
    gram[0, 0] = sums.w
    gram[0, 1:] = gram[1:, 0] = t.w_x
    for (i, j), value in zip(_pairs(ndim), t.w_xx, strict=True):
        gram[1 + i, 1 + j] = gram[1 + j, 1 + i] = value
    target = np.array([sums.r, *t.r_x]) - gain * np.array([sums.m, *t.m_x])
    solution = np.linalg.lstsq(gram, target, rcond=None)[0]
    return float(solution[0]), tuple(float(v) for v in solution[1:])


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
        #: The latest shift whose sums were evaluated, and its sums: the brightness
        #: fit and the gain's dilution read them at the same shift, the minimum.
        self._latest_sums: tuple | None = None
        #: The noise's expected share of the residual, subtracted from it where it
        #: depends on the shift (as ``Surface.noise_overlap``); None: constant.
        self.noise_overlap = None
        #: As ``Surface.score_ratio``.
        self.score_ratio = None
        #: ``(s_R, s_M)`` when the gain is fitted with both images' noise
        #: (:meth:`weigh_noise`); None: least squares of the reference on the moving.
        self.noise: tuple | None = None
        #: The gain at which noise maps' weights hold the moving noise (1: none).
        self.weights_gain = 1.0

    @property
    def weight(self):
        return self.sums.w

    def weigh_noise(self, reference: float, moving: float) -> None:
        """Fit the gain with the noise of both images, of variances ``reference`` and
        ``moving`` (each in its own units; only their ratio matters): errors in
        variables (:func:`_errors_in_variables`), so the moving noise neither
        dilutes the gain nor biases the shift."""
        self.noise = (float(reference), float(moving))

    def spreads(self, point) -> tuple[float, float] | None:
        """``Crr, Cmm`` at ``point``: each image's power over the overlap, less the
        offset (and tilt); None where either is not positive."""
        sums = self._sums_at(point)
        if not sums.w > 0:
            return None
        crr, cmm, _ = centred_sums(sums)
        return (float(crr), float(cmm)) if crr > 0 and cmm > 0 else None

    def for_search(self) -> ProfiledSurface:
        """This surface scoring ``1 - rho**2`` (scale fitted) for the whole-pixel search."""
        out = ProfiledSurface(self.sums, self.brightness, self.shape)
        out.normalised = self.brightness != "offset" and self.brightness != "none"
        out.noise_overlap = self.noise_overlap
        return out

    def _terms(self) -> list:
        return self.sums.terms()

    def _score(self, values, noise=None) -> np.ndarray:
        with np.errstate(divide="ignore", invalid="ignore"):
            fit = profiled_residual(
                self.sums.like(values),
                self.brightness,
                offset=False,
                noise=None if self.normalised else self.noise,
            )
            w = values[0]
            if not self.normalised:
                score = (fit.residual if noise is None else fit.residual - noise) / w
            elif np.ndim(fit.spread):
                # A flat reference overlap correlates with nothing: 1 - rho**2 = 1.
                score = np.where(fit.spread > 0, fit.residual / fit.spread, 1.0)
            else:  # one spread for every shift (the periodic mode): no pass to choose
                score = fit.residual / fit.spread if fit.spread > 0 else np.ones_like(fit.residual)
            if np.ndim(w):
                return np.where(w > 0, score, np.inf)
            return score if w > 0 else np.full(np.shape(score), np.inf)

    def grid(self, threads=None, window=None):
        """The score at every whole-pixel shift (FFT layout, or ``window``) and ``W``
        (None when constant)."""
        terms = self._terms()
        # The periodic mode's cross term is the one grid among constants: its values
        # may stay in the FFT's own buffer (no transform runs before they are scored)
        # rather than in a fresh array of the grid's size.
        scratch = self.sums.w.is_constant and sum(not t.is_constant for t in terms) == 1
        values = [term.grid(threads, window=window, scratch=scratch) for term in terms]
        shape = np.broadcast_shapes(*[np.shape(v) for v in values])
        weight = None if self.sums.w.is_constant else np.asarray(values[0])
        if not shape:
            return np.array(self._score(values), dtype=np.float64), weight
        # Scored a block of rows at a time: the closed form's temporaries stay the
        # size of a block, not of the grid (a volume's grid is as large as its input).
        score = np.empty(shape)
        arrays = [np.broadcast_to(v, shape) if np.ndim(v) else v for v in values]
        noise = self._noise(lambda term: term.grid(threads, window=window))
        step = block_rows(score)
        for start in range(0, shape[0], step):
            rows = slice(start, start + step)
            score[rows] = self._score(
                [v[rows] if np.ndim(v) else v for v in arrays],
                None if noise is None else noise[rows],
            )
        return score, weight

    def _noise(self, evaluate):
        """The noise's share of the residual, by ``evaluate`` (None: none subtracted:
        constant, or the normalised search score, which it does not enter)."""
        if self.noise_overlap is None or self.normalised:
            return None
        return evaluate(self.noise_overlap)

    def values(self, positions) -> np.ndarray:
        """The score on the tensor grid of ``positions`` (one array of shifts per axis)."""
        orders = [(0,)] * len(positions)
        noise = self._noise(lambda term: term.tensor(positions, orders))
        return self._score([term.tensor(positions, orders) for term in self._terms()], noise)

    def _sums_at(self, point) -> OverlapSums:
        """Every sum at one shift (floats), evaluated once per shift in a row."""
        key = tuple(float(p) for p in point)
        if self._latest_sums is not None and self._latest_sums[0] == key:
            return self._latest_sums[1]
        orders = [(0,)] * len(point)
        at = [[p] for p in point]
        sums = self.sums.like(
            [float(term.tensor(at, orders).reshape(-1)[0]) for term in self._terms()]
        )
        self._latest_sums = (key, sums)
        return sums

    def fit_at(self, point) -> BrightnessFit:
        """The gain, offset (and tilt) and residual at one shift (floats)."""
        sums = self._sums_at(point)
        if not sums.w > 0:
            return BrightnessFit(0.0, 1.0, 0.0)
        fit = profiled_residual(sums, self.brightness, noise=self.noise)
        residual, scale = float(np.asarray(fit.residual)), float(np.asarray(fit.scale))
        if sums.tilt is None:
            return BrightnessFit(residual, scale, float(np.asarray(fit.offset)))
        offset, tilt = background_fit(sums, scale)
        return BrightnessFit(residual, scale, offset, tilt=tilt)

    def dilution(self, point, variance: float) -> float:
        """The fitted gain over the true one at ``point``, for a moving noise of
        ``variance`` (as compared: filtered): ``a = 1 - W variance / Cmm``, the moving
        image's centred power ``Cmm = MM - M**2 / W`` holding its noise too. The
        residual's moving part is then ``g g_true variance = g**2 variance / a``."""
        sums = self._sums_at(point)
        w = sums.w
        spread = centred_sums(sums)[1] if w > 0 else 0.0
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
            residual = profiled_residual(
                self.sums.like(jets), self.brightness, noise=self.noise
            ).residual
            noise = self._noise(lambda term: Jet(*term.derivatives(point)))
            f = (residual if noise is None else residual - noise) / jets[0]
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
