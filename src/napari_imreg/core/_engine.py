"""One filter strength's registration: the reference prepared once, and the stages run in order."""

from __future__ import annotations

import dataclasses
import functools
import logging

import numpy as np

from . import _fft
from ._chi2 import outer_product
from ._deltachi2 import delta_chi2_map as build_delta_chi2_map
from ._errors import Errors, measure_errors, undiluted
from ._filter import filter_response, smoothing_kernels
from ._options import Boundary
from ._pipeline_residual import residual_excess
from ._prefilter import blend
from ._prepare import PreparedImage, overlap_taper
from ._refine import Fit, detail_variance, fit_minimum
from ._residual import residual_errors
from ._result import RegistrationResult, warn_registration
from ._significance import ReferenceShare
from ._surface_binned import binning_factors
from ._surface_spectral import Spectra
from ._taper import Marginals
from ._trust import judge, unmeasured, widened, within_window

logger = logging.getLogger(__name__)


def search_window(shape, requested, *, wrap: bool) -> tuple[np.ndarray, np.ndarray]:
    """The window the answer must lie in, per axis (``max_shift``: ``requested``, or
    half of each axis for ``wrap``, a quarter otherwise), and how far the surface is
    read: one whole pixel further, a guard, so that a minimum on the window's edge is
    bracketed by samples on both sides."""
    shape = np.asarray(shape, dtype=np.float64)
    if wrap:
        half = shape / 2
        window = half if requested is None else np.minimum(requested, half)
        return window, np.minimum(np.floor(window) + 1, half)
    default = np.maximum(1.0, np.floor(shape / 4))
    window = np.minimum(default if requested is None else requested, shape - 1)
    return window, np.minimum(np.floor(window) + 1, shape - 1)


class Engine:
    """A :class:`Registrar` at one filter strength: the reference prepared once, the
    spectra it reuses, and the registration proper."""

    def __init__(
        self,
        ref: np.ndarray,
        *,
        reference_error,
        reference_mask,
        upsample_factor,
        boundary: Boundary,
        brightness: str,
        max_shift,
        strength: float,
        filter_margins: bool,
        reference_complete: bool,
        threads: int | None,
        errors: str = "residual",
    ):
        self.shape = ref.shape
        #: "residual": the image-space stage's errors (issue 13); "fisher": the surface's.
        self.errors = errors
        self.boundary, self.upsample_factor = boundary, upsample_factor
        #: What is fitted between the images (see ``_brightness``); the images are
        #: centred whenever an offset is (keeps the centred sums free of cancellation).
        self.brightness = brightness
        self.zero_mean = brightness != "none"
        self.threads = threads
        # The pixels a noise map flags are in the mask already (Registrar: before the
        # outlier stage, which would clip round them).
        self._reference_mask = reference_mask
        # A noise map enters every stage as its smoothed variance (``modelled_error``,
        # made once by the Registrar for all its engines; so is the moving one).
        self._reference_error = reference_error
        # Overlap mode filters both images with a compact low-pass kernel, as
        # strongly as ``strength`` (see ``_prefilter``).
        full = smoothing_kernels(ref.shape)
        self.strength = strength if boundary == "overlap" else 0.0
        self._kernels = blend(full, self.strength)
        self._source = ref  # as given, never written to
        self._reference_detail = detail_variance(ref)  # its noise, for the gain (_refine)
        self._reference_complete = reference_complete
        self._binning = (1,) * ref.ndim
        self.max_shift, self._limits = search_window(
            ref.shape, max_shift, wrap=self.boundary == "wrap"
        )
        # The whole-pixel minimum is one of the shifts within the window.
        self.allowed = np.floor(self.max_shift)
        if self.boundary == "wrap":
            self._padded = ref.shape
            self._tapers = None
        else:
            self._padded = _fft.next_fast_shape(
                np.asarray(ref.shape) + self._limits.astype(int) + 2
            )
            margins = [k.size // 2 if filter_margins else 0 for k in full]
            self._tapers = [overlap_taper(n, m) for n, m in zip(ref.shape, margins, strict=True)]
            self._binning = binning_factors(ref.shape)
        self._reference_cache: dict = {}
        self._binned_reference: Spectra | None = None
        self._tapered_reference: dict = {}
        self._reference_squares: Marginals | None = None
        self._completed_reference: np.ndarray | None = None  # see _trust.completed_reference
        #: Keep the reference's spectra between calls (False for a one-off registration).
        self.keep_reference_spectra = True

    @functools.cached_property
    def _reference(self) -> PreparedImage:
        """The reference prepared (filtered) at this strength, on first use: the
        binned search reads only the reference as given."""
        return PreparedImage.prepare(
            self._source,
            self._reference_mask,
            zero_mean=self.zero_mean,
            kernels=self._kernels,
            name="reference",
            overlap=self.boundary == "overlap",
        )

    @functools.cached_property
    def _significance_share(self) -> ReferenceShare:
        """The significance test's work on the (unmasked) reference, made once."""
        return ReferenceShare.of(self._reference.data, boundary=self.boundary)

    @property
    def _smooth(self) -> bool:
        """Whether both images are filtered (overlap mode with ``prefilter``)."""
        return self._kernels is not None

    @property
    def _variance_factor(self) -> float:
        """Variance of the filtered noise per unit variance of the raw noise."""
        if not self._smooth:
            return 1.0
        return float(np.prod([np.sum(kernel**2) for kernel in self._kernels]))

    def _transfer(self, padded, *, power: int) -> list[np.ndarray]:
        """Per-axis ``|H(k)|**power`` of the filter on the padded frequencies (rfft
        layout), read-only."""
        last = len(padded) - 1
        return [
            _axis_transfer(int(n), axis == last, tuple(self._kernels[axis].tolist()), power)
            for axis, n in enumerate(padded)
        ]

    def _base_weight(self, image: PreparedImage):
        """Taper times validity: None when every weight is 1 (periodic, nothing
        masked), a list of 1-D profiles when it is separable, else an array."""
        if self._tapers is None:
            return None if image.valid is None else image.valid.astype(np.float64)
        profiles = [taper.samples() for taper in self._tapers]
        if image.valid is None:
            return profiles
        return image.valid * outer_product(profiles)

    def _prepare(self, mov: np.ndarray, moving_error, mask) -> PreparedImage | None:
        """The validated ``mov`` prepared like the reference; None when it or the
        reference is flat (no information)."""
        image = PreparedImage.prepare(
            mov,
            mask,
            zero_mean=self.zero_mean,
            kernels=self._kernels,
            name="moving",
            overlap=self.boundary == "overlap",
        )
        if self._reference.is_flat() or image.is_flat():
            return None
        return image

    def fit_unknown_noise(self, mov: np.ndarray, mask=None) -> tuple[PreparedImage, Fit] | None:
        """``mov`` prepared and chi2 fitted as with no error given: the fit's ``noise``
        is estimated from the residual of the surface at its minimum. None when an
        image is flat. :meth:`measure` takes the pair to finish the registration."""
        image = self._prepare(mov, None, mask)
        if image is None:
            return None
        with _fft.one_blas_thread():
            return image, fit_minimum(self, image, None, estimate=None)

    def measure(self, mov: np.ndarray, moving_error, mask, delta_chi2_map: bool, **kwargs):
        """Register the validated ``mov`` (see :meth:`Registrar.register`); the
        keywords are :meth:`measure_deferred`'s."""
        return self.measure_deferred(mov, moving_error, mask, delta_chi2_map, **kwargs)[1]()

    def measure_deferred(
        self,
        mov: np.ndarray,
        moving_error,
        mask,
        delta_chi2_map: bool,
        *,
        estimate=None,
        noise_var: float | None = None,
        floor_var: float = 0.0,
        fitted: tuple[PreparedImage, Fit] | None = None,
        rivals_later: bool = False,
    ):
        """The registration of ``mov`` without the residual stage and the delta-chi2
        map, and a function that returns it with both (the same shift; errors at
        least as large on every axis, since the stage floors them at these).

        ``estimate``: the shift from :meth:`binned_estimate` when the caller has it;
        ``noise_var``: the mean noise variance of the difference when errors are
        given; ``floor_var``: the sub-pixel floor as a noise variance, added to the
        errors; ``fitted``: what :meth:`fit_unknown_noise` returned for ``mov``.
        """
        if fitted is None:
            image, fit = self._prepare(mov, moving_error, mask), None
            if image is None:
                nothing = self._no_information()
                return nothing, lambda witness=None: nothing
        else:
            image, fit = fitted
        # BLAS on one thread: threaded OpenBLAS spins long after each call and
        # would slow the next transforms (see evaluate_series).
        with _fft.one_blas_thread():
            if fit is None:
                fit = fit_minimum(self, image, moving_error, estimate=estimate)
            # The image-space stage fits its own gain: it takes the moving noise as given.
            given_moving_error = moving_error
            if fit.scale_fit is not None and fit.scale_fit != 1.0:
                # The moving image's noise in the reference's units.
                moving_error, noise_var = _gained(
                    moving_error,
                    noise_var,
                    self._reference_error,
                    fit.scale_fit / np.sqrt(fit.dilution),
                )
            errors = measure_errors(
                self, image, moving_error, fit, noise_var=noise_var, floor_var=floor_var
            )
            errors = undiluted(
                errors, fit, moving_error, self._reference_error, self._variance_factor
            )
        logger.debug("registered: shift %s error %s", fit.shift, errors.sigma)
        # Issue 13: is the minimum a measurement at all, and errors from the residual.
        # With rivals_later, the rival test waits for finish(): the floor check reads
        # the second strength's significance and edge, and needs its rivals only when
        # that answer could replace the first (Registrar._register).
        significance = judge(self, image, fit.shift, rivals=not rivals_later)
        covariance = unmeasured(significance, fit.shift, errors.covariance)
        # The delta-chi2 map is drawn for the answer only: the floor check compares
        # two measurements and reports one (see ``floor_checked``).
        fit, delta_map = _map_of(
            fit, errors, self.upsample_factor, wanted=delta_chi2_map, now=not rivals_later
        )

        def result(significance, covariance, *, with_map=True, answer=fit) -> RegistrationResult:
            return self._result(
                answer,
                errors,
                *(delta_map() if with_map else (None, None, None)),
                covariance=covariance,
                significance=significance,
                moving_mean=image.mean,
            )

        excess = residual_excess(fit.f_min * errors.scale, fit.dof)
        # A rivalled match (not measured) keeps its error widened to reach the rivals.
        widest = widened(significance, fit.shift, covariance)
        quick = result(significance, widest, with_map=False)

        def finish(witness=None) -> RegistrationResult:
            # ``witness``: the same pair measured at another filter strength, whose
            # disagreement beyond noise bounds this answer's bias (see ``_residual``);
            # or a function measuring it, called only when the residual stage runs.
            verdict, bound, reach = significance, covariance, widest
            if significance.pending is not None:  # the rival test, on the correlation made
                verdict = significance.with_rivals()
                bound = unmeasured(verdict, fit.shift, errors.covariance)
                reach = widened(verdict, fit.shift, bound)
            stage = verdict.measured and self.errors == "residual"
            if not (stage and np.all(np.isfinite(bound))):
                return result(verdict, within_window(verdict, self.max_shift, fit.shift, reach))
            if callable(witness):
                witness = witness()
            # The residual stage's error, no narrower than the rival test's reach.
            stage_covariance, distortion = residual_errors(
                self, image, fit.shift, bound, given_moving_error, mask, witness, excess
            )
            answer = dataclasses.replace(fit, shift=fit.shift + distortion)
            reach = widened(verdict, answer.shift, stage_covariance)
            bounded = within_window(verdict, self.max_shift, answer.shift, reach)
            return result(verdict, bounded, answer=answer)

        return quick, finish

    def _result(
        self,
        fit: Fit,
        errors: Errors,
        factor,
        coords,
        delta,
        *,
        covariance,
        significance,
        moving_mean: float,
    ) -> RegistrationResult:
        same = covariance is errors.covariance
        offset = fit.offset_fit
        if offset is not None:  # the images were centred: the offset between them as given
            offset = offset + self._reference.mean - fit.scale_fit * moving_mean
        return RegistrationResult(
            shift=fit.shift,
            error=errors.sigma if same else np.sqrt(np.diag(covariance)),
            covariance=covariance,
            chi2_min=float(fit.f_min * errors.scale),
            dof=float(fit.dof),
            noise=errors.noise,
            upsample_factor=factor,
            delta_chi2=delta,
            delta_chi2_coords=coords,
            boundary=self.boundary,
            method="chi2",
            filter_strength=self.strength if self.boundary == "overlap" else None,
            measured=significance.measured and bool(np.all(np.isfinite(covariance))),
            significance=significance,
            errors=self.errors,
            brightness=self.brightness,
            scale=fit.scale_fit,
            offset=offset,
            tilt=None if fit.tilt_fit is None else np.array(fit.tilt_fit),
        )

    def _no_information(self) -> RegistrationResult:
        warn_registration(
            "an image is constant (no structure to register): the shift is unconstrained "
            "and its error is infinite."
        )
        ndim = len(self.shape)
        return RegistrationResult(
            shift=np.zeros(ndim),
            error=np.full(ndim, np.inf),
            covariance=np.full((ndim, ndim), np.inf),
            boundary=self.boundary,
            measured=False,
            method="chi2",
            filter_strength=self.strength if self.boundary == "overlap" else None,
        )


@functools.lru_cache(maxsize=32)
def _axis_transfer(n: int, last: bool, kernel: tuple, power: int) -> np.ndarray:
    """``|H(k)|**power`` of the symmetric ``kernel`` on the frequencies of an axis of
    ``n`` (the half spectrum's when ``last``), read-only: a long axis's cosines
    cost a pass, and every fit and its errors ask again."""
    k = np.arange(n // 2 + 1) if last else np.fft.fftfreq(n, 1 / n)
    response = np.abs(filter_response(k / n, np.asarray(kernel))) ** power
    response.setflags(write=False)
    return response


def _gained(moving_error, noise_var, reference_error, gain: float):
    """The moving error and the mean noise variance of the difference with the
    moving image's noise times ``gain`` (in the reference's units)."""
    if moving_error is None:
        return None, noise_var
    moving_var = float(np.nanmean(np.square(moving_error)))
    reference_var = (
        0.0 if reference_error is None else float(np.nanmean(np.square(reference_error)))
    )
    return moving_error * gain, reference_var + gain**2 * moving_var


def _map_of(fit: Fit, errors: Errors, upsample_factor, *, wanted: bool, now: bool):
    """``fit``, and a function that returns its delta-chi2 map ``(factor, coords,
    delta)`` (Nones unless ``wanted``).

    With ``now``, the map is drawn at once and the fit comes back without its
    surface, which nothing else reads: the floor check's first measurement, the one
    usually reported, lets its surface go before the second strength's is made (a
    volume's peak of memory)."""
    if wanted and not now:
        return fit, lambda: _delta_map(fit, errors, upsample_factor)
    drawn = _delta_map(fit, errors, upsample_factor) if wanted else (None, None, None)
    return (dataclasses.replace(fit, surface=None) if now else fit), lambda: drawn


def _delta_map(fit: Fit, errors: Errors, upsample_factor) -> tuple:
    """The delta-chi2 map of ``fit``, scaled so that delta chi2 = 1 is the 1-sigma
    contour of ``errors``: ``(factor, coords, delta)``."""
    scale = errors.scale / errors.calibration
    with _fft.one_blas_thread():
        return build_delta_chi2_map(
            fit.surface, fit.shift, fit.f_min, scale, errors.sigma, upsample_factor
        )
