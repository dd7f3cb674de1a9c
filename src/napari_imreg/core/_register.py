"""Chi-squared registration: :func:`register` and :class:`Registrar`."""

from __future__ import annotations

import dataclasses
import threading
from typing import Literal

import numpy as np

from . import _fft
from ._background import ALPHA, ResidualBlocks
from ._blur import seeing_matched
from ._brightness import Brightness
from ._engine import Engine
from ._filter import smoothing_kernels
from ._gain_field import flattened
from ._options import BoundaryChoice, ErrorModel, Options
from ._outliers import reject_outliers
from ._periodic import is_discontinuous, is_periodic
from ._prefilter import EdgeContent, floor_checked, least_variance_strength
from ._prepare import check_mask, modelled_error, set_aside, split_mask, unknown_pixels
from ._result import RegistrationResult, held_warnings, warn_registration
from ._saturation import saturated
from ._strength import choose_strength, floor_variance, reference_edge_scale, unknown_noise
from ._validation import (
    as_image,
    check_error,
    check_max_shift,
    check_same_shape,
    data_unit,
    in_unit,
)

#: Filter strengths a Registrar keeps its reference prepared at (the latest ones).
KEPT_ENGINES = 3


class Registrar:
    """Registers moving images against one reference, preparing the reference once.

    The options are those of :class:`Options`, by name; :meth:`from_options`
    takes an :class:`Options` already made.

    Parameters
    ----------
    reference : array_like
        The reference image, any dimension.
    reference_error : float or array_like, optional
        1-sigma noise of the reference (scalar or per-pixel map). ``None`` means
        noiseless when the moving image's error is given, and "estimate from the
        data" when neither is given.
    reference_mask : array_like of bool, optional
        True marks reference pixels to ignore. NaN and infinite pixels are always ignored.
    upsample_factor : int or "auto"
        Samples per pixel of the returned delta-chi2 map. The shift and its error
        are computed continuously and do not depend on it. ``"auto"`` samples the
        map finely enough to show the 1, 2 and 3-sigma regions.
    boundary : {"auto", "overlap", "wrap"}
        ``"overlap"`` compares the images only where they overlap, as real
        (non-periodic) images need; the correlations are zero-padded and the
        weights taper smoothly to zero over the outer ``TAPER_WIDTH`` pixels (on
        axes of ``LONG_AXIS`` px or more, after a zero margin of 1/128 of the axis).
        ``"wrap"`` treats both images as periodic (what FFT registration usually
        computes; exact for periodic data, biased for real images). ``"auto"``
        (default) uses ``"wrap"`` when the reference and the moving image are both
        shown to wrap (their opposite edges join as smoothly as their interior
        rows; masked images never are), else ``"overlap"``: docs/how-it-works.md,
        "Which boundary: auto". The result's ``boundary`` is the model used.
    zero_mean : bool, optional
        The older name of ``brightness``: True fits an offset (``"offset"``),
        False nothing (``"none"``).
    max_shift : float or sequence of float, optional
        Largest shift allowed, per axis, in pixels: an answer beyond it is not a
        measurement (``measured`` False). The search samples one whole pixel more,
        so that an answer up to it is bracketed. Default: half of each axis for
        ``"wrap"``, a quarter of each axis for ``"overlap"`` (raise it for larger
        offsets; the padded correlation then grows).
    prefilter : bool or float
        ``"overlap"`` only. ``True`` (default) low-passes both images just enough to
        keep the sub-pixel floor of truncated images at 0.3 of the noise's error, or
        more where the shift's predicted variance is less (low SNR); a
        number from 0 to 1 fixes the strength; ``False`` turns the filter off. The
        strength used is the result's ``filter_strength``, and the floor it leaves
        is added to the errors (docs/how-it-works.md, "The filter and its strength").
        With ``errors="residual"``, a chosen strength below 1 is checked against the
        full strength, whose answer is taken when the two disagree by more than 4
        sigma (real scenes can alias more than the floor model says; "The floor
        check") or when its errors are the smaller.
    threads : int, optional
        FFT threads; default all cores for large images. Use 1 when registering
        many images in parallel.
    errors : {"residual", "fisher"}
        How the errors are made: from the image-space residual (default; calibrated
        on real images) or from the chi2 surface's curvature alone (faster). See
        :class:`Options`.
    brightness : {"scale+offset", "scale+offset+tilt", "offset", "none"}, optional
        What is fitted between the images at every shift, profiled out of chi2
        (``reference ~ scale * moving + offset``; the result's ``scale`` and
        ``offset``): a gain and an offset (default; when the residual at the shift
        found holds a significant plane, the pair is registered again with the
        tilt, and the result's ``brightness`` says so: docs/robustness.md), those
        and a linear background always (``+ tilt . x``, one slope per axis, the
        result's ``tilt``; for a tilted, growing background along a time-lapse:
        about 1.8x the time), an offset, or nothing. A changed exposure, gain or
        background then does not pull the shift, and the errors account for the
        fitted parameters.
    outliers : bool
        Set aside what one image has and the other has not (default True): when
        the residual at the shift found shows them, hot pixels, cosmic rays and
        streaks, clipped at ``clip_threshold`` robust sigmas of the residual and
        registered again without them. The result's ``clipped`` and ``saturated``
        count the pixels set aside.
    clip_threshold : float
        The clipping level, in robust (MAD) sigmas of the residual.
    saturation : bool
        With ``outliers``, also mask saturated pixels (several at an image's largest
        value). Off by default: on our real pairs it cost accuracy (the filter then
        loses the edges next to the plateaus, which carry the shift).
    """

    def __init__(
        self,
        reference,
        *,
        reference_error=None,
        reference_mask=None,
        upsample_factor: int | Literal["auto"] = "auto",
        boundary: BoundaryChoice = "auto",
        zero_mean: bool | None = None,
        max_shift=None,
        prefilter: bool | float = True,
        threads: int | None = None,
        errors: ErrorModel = "residual",
        brightness: Brightness | None = None,
        outliers: bool = True,
        clip_threshold: float = 10.0,
        saturation: bool = False,
    ):
        reference = as_image(reference, "reference")
        options = Options(
            upsample_factor=upsample_factor,
            boundary=boundary,
            zero_mean=zero_mean,
            max_shift=max_shift,
            prefilter=prefilter,
            threads=threads,
            errors=errors,
            brightness=brightness,
            outliers=outliers,
            clip_threshold=clip_threshold,
            saturation=saturation,
        )
        self._setup(reference, options, reference_error=reference_error, mask=reference_mask)
        self._keep_copies()

    @classmethod
    def from_options(
        cls, reference, options: Options, *, reference_error=None, reference_mask=None
    ) -> Registrar:
        """A Registrar from options already made (see :class:`Options`)."""
        self = cls.__new__(cls)
        reference = as_image(reference, "reference")
        self._setup(reference, options, reference_error=reference_error, mask=reference_mask)
        self._keep_copies()
        return self

    def _keep_copies(self) -> None:
        # Later calls prepare the reference from these: keep copies the caller
        # cannot change, and prepare it now, so that its problems are reported here.
        self._source = _private(self._source)
        for name in ("reference_error", "reference_mask"):
            self._inputs[name] = _private(self._inputs[name])
        self._engine(1.0 if self._strength is None else self._strength)

    @classmethod
    def _one_off(
        cls, reference: np.ndarray, options: Options, *, reference_error, reference_mask
    ) -> Registrar:
        """A Registrar for a single call: it reads ``reference`` (validated) in place
        (the call cannot change it), prepares it when the call needs it and keeps no
        spectra."""
        self = cls.__new__(cls)
        self._setup(reference, options, reference_error=reference_error, mask=reference_mask)
        self.keep_reference_spectra = False
        return self

    def _setup(self, ref: np.ndarray, options: Options, *, reference_error, mask) -> None:
        self.shape = ref.shape
        # Units (issue 13): the images and errors are measured in one power of two
        # near the reference's spread, so that no sum of squares over- or underflows.
        self._unit = data_unit(ref)
        ref = in_unit(ref, self._unit)
        reference_error = in_unit(
            check_error(reference_error, ref.shape, "reference_error"),
            self._unit,
            "reference_error",
        )
        # boundary="auto": the reference decides between "overlap" and "wrap" here;
        # with "wrap", each moving image that is shown not to wrap takes an
        # overlap twin of this registrar (_model_for).
        self._auto = False
        self._twin: Registrar | None = None
        #: The same options with the tilt fitted (see ``register``), made when needed.
        self._tilted_twin: Registrar | None = None
        if options.boundary == "auto":
            self._auto = mask is None and is_periodic(ref)
            options = dataclasses.replace(options, boundary="wrap" if self._auto else "overlap")
        #: The options, validated, with ``boundary="auto"`` resolved on the reference
        #: (see :class:`Options`).
        self.options = options
        #: The model of the edges: ``"overlap"`` or ``"wrap"``.
        self.boundary = options.boundary
        prefilter = options.prefilter
        #: What each engine is made from.
        self._inputs = {
            "reference_error": reference_error,
            "reference_mask": set_aside(
                check_mask(mask, ref.shape, "reference_mask"), reference_error, ref
            ),
            "upsample_factor": options.upsample_factor,
            "boundary": self.boundary,
            "brightness": options.brightness,
            "max_shift": check_max_shift(options.max_shift, ref.shape),
            "filter_margins": self.boundary == "overlap" and prefilter is not False,
            "threads": options.threads,
            "errors": options.errors,
        }
        #: The reference's noise as the engines' weights use it (a map modelled once).
        self._reference_noise = modelled_error(reference_error, wrap=self.boundary == "wrap")
        #: The filter's strength, or None when each call chooses it from the noise.
        self._strength = None if prefilter is True else float(prefilter)
        if self.boundary == "wrap":
            self._strength = 0.0
        self._engines: dict[float, Engine] = {}
        #: The noise windows' engines (see ``_window_engine``), the latest last.
        self._windows: dict[tuple, Engine] = {}
        self._lock = threading.Lock()
        self._content: EdgeContent | None = None
        self.keep_reference_spectra = True
        self._source = ref
        #: The reference's mean noise variance (0 when not given).
        self._reference_var = mean_variance(self._inputs["reference_error"])
        mask = self._inputs["reference_mask"]
        self._complete = mask is None and bool(np.isfinite(np.sum(ref, dtype=np.float64)))

    @property
    def keep_reference_spectra(self) -> bool:
        """Keep the reference's spectra between calls (False for a one-off registration)."""
        return self._keep

    @keep_reference_spectra.setter
    def keep_reference_spectra(self, keep: bool) -> None:
        self._keep = bool(keep)
        for engine in (*self._engines.values(), *self._windows.values()):
            engine.keep_reference_spectra = self._keep
        for twin in (self._twin, self._tilted_twin):
            if twin is not None:
                twin.keep_reference_spectra = self._keep

    def register(
        self, moving, *, error=None, mask=None, delta_chi2_map: bool = True
    ) -> RegistrationResult:
        """Register ``moving`` onto the reference.

        Parameters
        ----------
        moving : array_like
            Image of the reference's shape.
        error : float or array_like, optional
            1-sigma noise of the moving image, scalar or per-pixel map (NaN marks
            pixels to ignore). See the class documentation for ``None``.
        mask : array_like of bool, optional
            True marks moving pixels to ignore.
        delta_chi2_map : bool
            Compute the delta-chi2 map around the minimum (default). Stacks that
            keep only shifts and errors skip it; the result's map fields are then None.

        Returns
        -------
        RegistrationResult
            ``shift`` registers ``moving`` onto the reference (numpy axis order).
        """
        mov = as_image(moving, "moving")
        check_same_shape(self._source, mov, ("reference", "moving"))
        moving_error = in_unit(check_error(error, mov.shape, "error"), self._unit, "error")
        # Flagged noise and edge fill are masked before the outlier stage: it would
        # take their junk for outliers and clip round it (see set_aside).
        mask = set_aside(check_mask(mask, mov.shape, "mask"), moving_error, mov)
        mov = in_unit(mov, self._unit)
        registrar = self._model_for(mov, mask)
        # BLAS on one thread for the whole call: a threaded OpenBLAS call wakes
        # spinning threads that slow what follows (see _fft.one_blas_thread).
        with _fft.one_blas_thread():
            result = _matched(registrar, mov, moving_error, mask, delta_chi2_map)
        if self._unit != 1.0:  # back to the images' units
            result = result.in_units(self._unit)
        return result

    def _twin_with(self, name: str, **changes) -> Registrar:
        """This registrar with ``changes`` to its options, kept as its attribute
        ``name`` (made once, on the reference in the core's units): the "overlap"
        twin of :meth:`_model_for`, the tilted one of :meth:`register`."""
        with self._lock:
            twin = getattr(self, name)
            if twin is None:
                twin = Registrar._one_off(
                    self._source,
                    dataclasses.replace(self.options, **changes),
                    reference_error=self._inputs["reference_error"],
                    reference_mask=self._inputs["reference_mask"],
                )
                twin.keep_reference_spectra = self._keep
                setattr(self, name, twin)
        return twin

    def _model_for(self, mov: np.ndarray, mask) -> Registrar:
        """This registrar, or, when ``boundary="auto"`` chose "wrap" on the reference
        and ``mov`` is masked or shown not to wrap, its "overlap" twin."""
        if not self._auto or (mask is None and not is_discontinuous(mov)):
            return self
        return self._twin_with("_twin", boundary="overlap")

    def _register(self, mov, moving_error, mask, delta_chi2_map) -> RegistrationResult:
        unknown = self._inputs["reference_error"] is None and moving_error is None
        noise_var = None if unknown else self._reference_var + mean_variance(moving_error)
        scale = reference_edge_scale(self)
        strength, estimate, fitted = self._strength, None, None
        if strength is None:
            if unknown:
                estimated, estimate, fitted = unknown_noise(self, mov, mask)
                if estimated is None:  # no information: this call warns and says so
                    return self._engine(1.0).measure(mov, None, mask, delta_chi2_map)
                strength = choose_strength(self, scale, estimated, (mov, mask))
            else:
                strength = choose_strength(self, scale, noise_var)

        # A noise map as the weights use it, modelled once for every strength.
        moving_error = modelled_error(moving_error, wrap=self.boundary == "wrap")

        def at(level: float, rivals_later: bool = False):
            # The result without the residual stage, and the stage.
            return self._engine(level).measure_deferred(
                mov,
                moving_error,
                mask,
                delta_chi2_map,
                estimate=estimate,
                noise_var=noise_var,
                floor_var=floor_variance(self, scale, level),
                fitted=fitted if level == 1.0 else None,
                rivals_later=rivals_later,
            )

        measured = at(strength)
        staged = self._strength is None and self.options.errors == "residual"
        if staged and strength < 1.0:
            # The floor model predicts the floor from the image's statistics; a real
            # scene's aliasing can exceed it. The full-strength answer, whose floor is
            # far lower, is the check (docs/how-it-works.md, "The floor check").
            # The full strength's rival test runs only if its answer could be the one
            # reported: floor_checked keeps the first unless the two are apart.
            return floor_checked(measured, lambda: at(1.0, rivals_later=True))
        if staged and not unknown:
            # Measured only if the residual stage runs (a measured answer, finite errors).
            return measured[1](lambda: full_strength_witness(self, scale, noise_var, at))
        return measured[1]()

    def _masked(self, reference_mask, *, source=None) -> Registrar:
        """A one-off Registrar of this one's options (outliers off) with
        ``reference_mask``, and ``source`` (default: this reference, in the core's
        units) as reference: the outlier stage's masked and search registrations."""
        options = dataclasses.replace(self.options, outliers=False)
        return Registrar._one_off(
            self._source if source is None else source,
            options,
            reference_error=self._inputs["reference_error"],
            reference_mask=reference_mask,
        )

    def _engine(self, strength: float, *, prepare: bool = True) -> Engine:
        """The registration at one filter strength (the latest few are kept), its
        reference prepared unless ``prepare`` is False."""
        changes = {"strength": strength, "reference_complete": self._complete}
        changes["reference_error"] = self._reference_noise  # modelled once
        with self._lock:
            engine = _kept(self, self._engines, strength, self._source, changes)
        if prepare:
            engine._reference  # noqa: B018 - prepared here, where its errors belong
        return engine

    def _window_engine(self, window: tuple[slice, ...]) -> Engine:
        """The full-strength engine of the reference's pixels in ``window`` (slices),
        unmasked and with no error given: the unknown noise is measured on it. The
        latest few are kept, so a drifting stack's frames prepare each window once."""
        key = tuple((part.start, part.stop) for part in window)
        changes = {"reference_error": None, "reference_mask": None, "max_shift": None}
        changes.update(reference_complete=True, strength=1.0)
        with self._lock:
            return _kept(self, self._windows, key, self._source[window], changes)


def full_strength_witness(registrar, scale: float, noise_var: float, at):
    """The witness of a full-strength answer that no floor check compared: the
    pipeline's quick result (``at(strength, rivals_later=True)[0]``) at the strength
    of least predicted variance (:func:`~._prefilter.least_variance_strength`), the
    other candidate that the floor bound overruled (docs/how-it-works-errors.md,
    "Bias shared by both strengths"); None when that is the full strength too, when
    it measures nothing, or when the reference's spectrum is not kept.

    ``noise_var``: the given difference of noise variance, split between the images
    as their errors give it. The witness is never reported, so its rival test is
    not run (as the floor check's).
    """
    content = registrar._content
    if content is None or content.spectrum is None or not noise_var > 0.0:
        return None
    reference_var = min(registrar._reference_var, noise_var)
    kernels = smoothing_kernels(registrar.shape)
    other = least_variance_strength(
        content.spectrum, kernels, registrar.shape, scale, reference_var, noise_var - reference_var
    )
    if other >= 1.0:
        return None
    witness = at(other, rivals_later=True)[0]
    return witness if witness.measured else None


def _registered(registrar, mov, moving_error, mask, delta_chi2_map) -> RegistrationResult:
    """``registrar``'s registration of the validated ``mov`` in the core's units,
    through the outlier stage (issue 14) when ``outliers`` is on."""
    options = registrar.options
    if not options.outliers:
        return registrar._register(mov, moving_error, mask, delta_chi2_map)
    return reject_outliers(
        registrar,
        mov,
        moving_error,
        mask,
        delta_chi2_map,
        threshold=options.clip_threshold,
        saturation=options.saturation,
    )


def _kept(registrar: Registrar, engines: dict, key, source, changes: dict) -> Engine:
    """``engines[key]``, made when missing from ``source`` and ``registrar``'s inputs
    with ``changes``, moved to the end (the most recent last); the oldest beyond
    ``KEPT_ENGINES`` are let go."""
    engine = engines.pop(key, None)
    if engine is None:
        engine = Engine(source, **{**registrar._inputs, **changes})
        engine.keep_reference_spectra = registrar._keep
    engines[key] = engine
    while len(engines) > KEPT_ENGINES:
        del engines[next(iter(engines))]
    return engine


def _matched(registrar, mov, moving_error, mask, delta_chi2_map) -> RegistrationResult:
    """:func:`_tilted_if_needed`, the pair's sharper image first blurred to the other's
    width when the two differ (a change of seeing or focus: ``_blur.seeing_matched``)."""
    return seeing_matched(registrar, mov, moving_error, mask, delta_chi2_map, _tilted_if_needed)


def _tilted_if_needed(registrar, mov, moving_error, mask, delta_chi2_map) -> RegistrationResult:
    """The registration by ``registrar``, or, when its residual holds a tilt the default
    fit leaves there, the pair registered again with it (issue 14, ``_background``);
    then, when the residual holds a smooth gain field, again with the moving image
    flattened by it (issue 13, ``_gain_field``). Only the last registration's
    warnings are given."""

    def held(registrar, moving, error):
        with held_warnings() as said:
            return _registered(registrar, moving, error, mask, delta_chi2_map), said

    result, said = held(registrar, mov, moving_error)
    if registrar.options.brightness == "scale+offset":
        invalid = _invalid_pixels(registrar, result, mov, mask)
        blocks = _residual_blocks(registrar, result, mov, invalid)
        if blocks is not None and blocks.tilt_p_value() < ALPHA:
            registrar = registrar._twin_with("_tilted_twin", brightness="scale+offset+tilt")
            result, said = held(registrar, mov, moving_error)
            blocks = None  # another result's
        last = []

        def again(moving, error):
            outcome, last[:] = held(registrar, moving, error)
            return outcome

        ref, wrap = registrar._source, registrar.boundary == "wrap"
        flat = flattened(
            result, ref, mov, moving_error, invalid, wrap=wrap, register=again, blocks=blocks
        )
        if flat is not result:  # the result says that a field was divided out
            result, said = dataclasses.replace(flat, brightness=f"{flat.brightness}+field"), last
    for message in said:
        warn_registration(message)
    return result


def _invalid_pixels(registrar, result: RegistrationResult, mov: np.ndarray, mask) -> list:
    """The pixels of each image the background's tests leave out: masked, not finite
    and, when the result found any, saturated (plateaus match through no gain)."""
    ref = registrar._source
    ref_mask = registrar._inputs["reference_mask"]
    invalid = [
        ~np.isfinite(ref) if ref_mask is None else ref_mask | ~np.isfinite(ref),
        ~np.isfinite(mov) if mask is None else mask | ~np.isfinite(mov),
    ]
    if result.saturated:
        invalid = [
            out | saturated(np.where(out, np.nan, image))
            for out, image in zip(invalid, (ref, mov), strict=True)
        ]
    return invalid


def _residual_blocks(registrar, result: RegistrationResult, mov: np.ndarray, invalid):
    """The blocks of ``result``'s residual (``_background.ResidualBlocks``) that the
    tilt test and the gain field's first test read; None without a shift."""
    # A match the ramp hid (not measured) is tested too: it may stand out once fitted.
    if not np.all(np.isfinite(result.shift)):
        return None
    scale = 1.0 if result.scale is None else result.scale
    wrap = registrar.boundary == "wrap"
    return ResidualBlocks(registrar._source, mov, invalid, result.shift, scale, wrap)


def _private(array):
    """``array`` itself if nobody can write to it, else a copy (None stays None)."""
    if isinstance(array, np.ndarray) and array.flags.writeable:
        return array.copy()
    return array


def mean_variance(error) -> float:
    """The mean variance of an error (scalar or map; pixels it marks unknown left
    out, see ``unknown_pixels``; None: 0)."""
    if error is None:
        return 0.0
    if np.ndim(error) == 0:
        return float(error) ** 2
    return float(np.mean(np.square(error[~unknown_pixels(error)])))


def register(
    reference,
    moving,
    *,
    error=None,
    reference_error=None,
    mask=None,
    upsample_factor: int | Literal["auto"] = "auto",
    boundary: BoundaryChoice = "auto",
    zero_mean: bool | None = None,
    max_shift=None,
    prefilter: bool | float = True,
    threads: int | None = None,
    errors: ErrorModel = "residual",
    brightness: Brightness | None = None,
    outliers: bool = True,
    clip_threshold: float = 10.0,
    saturation: bool = False,
) -> RegistrationResult:
    """Measure the translation between two images, with calibrated 1-sigma errors.

    The chi-squared method: chi2 as a function of shift from FFT
    cross-correlations, its whole-pixel minimum, then Newton's method on the
    exact band-limited interpolant of the surface for the sub-pixel minimum and
    its curvature.

    Parameters
    ----------
    reference, moving : array_like
        Real images of the same shape, any dimension (spectra, images, volumes).
        NaN and infinite pixels are ignored. Neither is modified.
    error : float or array_like, optional
        1-sigma noise of ``moving``: a scalar or a per-pixel map. A map's NaN
        pixels, and those over 1000 times its median (flags), are ignored; the
        weights use its variance smoothed over a few pixels (docs/how-it-works.md,
        "Noise maps").
    reference_error : float or array_like, optional
        1-sigma noise of ``reference``. If both errors are None (the default) the
        noise is estimated from the residual at the best shift, which then covers
        the noise of both images. If only one is given, the other image is taken
        as noiseless: for two equally noisy exposures, pass both.
    mask : array_like of bool, or a pair of them, optional
        True marks pixels to ignore: one mask for both images (e.g. a detector's
        bad pixels) or ``(reference_mask, moving_mask)``.
    upsample_factor : int or "auto"
        Samples per pixel of the returned delta-chi2 map (the shift and error are
        continuous and do not depend on it).
    boundary : {"auto", "overlap", "wrap"}
        ``"overlap"``: non-periodic, chi2 over the overlap only, right for real
        images whose edges do not wrap. ``"wrap"``: periodic images. ``"auto"``
        (default): ``"wrap"`` when both images are shown to wrap, else
        ``"overlap"`` (see :class:`Registrar`); the result's ``boundary`` says which.
    zero_mean : bool, optional
        The older name of ``brightness``: True is ``"offset"``, False ``"none"``.
    max_shift : float or sequence of float, optional
        Largest shift allowed per axis in pixels, as for :func:`register` (default:
        a quarter of each axis for ``"overlap"``, half for ``"wrap"``).
    prefilter : bool or float
        ``"overlap"`` only: discount the content near the Nyquist frequency, which
        a truncated image cannot be sub-pixel shifted with, as much as the noise
        requires (default True), at a fixed strength from 0 to 1, or not at all
        (False). See :class:`Registrar`.
    threads : int, optional
        FFT threads.
    errors : {"residual", "fisher"}
        ``"residual"`` (default): errors from the image-space residual, calibrated
        on real images; ``"fisher"``: the chi2 surface's curvature alone (faster,
        calibrated on band-limited images). See docs/how-it-works-errors.md.
    brightness : {"scale+offset", "scale+offset+tilt", "offset", "none"}, optional
        What is fitted between the images: a gain and an offset (default), those
        and a linear background, an offset, or nothing (see :class:`Registrar`).
    outliers : bool
        Set aside saturated pixels and the residual's outliers (hot pixels, cosmic
        rays), default True (see :class:`Registrar`).
    clip_threshold : float
        The clipping level, in robust sigmas of the residual.
    saturation : bool
        With ``outliers``, also mask saturated pixels (off by default; see
        :class:`Registrar`).

    Returns
    -------
    RegistrationResult
        ``shift`` (numpy axis order, ``(dy, dx)`` in 2-D) is the translation that
        registers ``moving`` onto ``reference``: ``fourier_shift(moving, shift)``
        reproduces ``reference``. ``error`` is the marginal 1-sigma per axis.

    Raises
    ------
    TypeError
        For complex, string, object or ragged input.
    ValueError
        For mismatched shapes, empty or single-pixel images, invalid errors,
        masks, ``upsample_factor``, ``boundary`` or ``max_shift``.

    Notes
    -----
    The surface minimised is the mean weighted squared residual over the pixels
    the images share at each shift, from FFT cross-correlations; ``delta chi2 = 1``
    is a 1-sigma change, and the error of axis ``i`` is ``sqrt((2 H^-1)_ii)`` with
    ``H`` the chi2 Hessian, corrected for the taper, the filter and the noise of
    both images. The derivations are in docs/how-it-works.md. A measured pair (1-D
    or 2-D, overlap mode, nothing masked) whose widths differ at the shift found (a
    change of seeing or focus, read from the two spectra) is registered again with
    its sharper image blurred to match, its noise carried (``result.blur``;
    docs/how-it-works-errors.md, "The sharper image matched").

    References
    ----------
    M. Guizar-Sicairos, S. T. Thurman and J. R. Fienup, "Efficient subpixel image
    registration algorithms", Opt. Lett. 33, 156-158 (2008).

    Examples
    --------
    >>> from napari_imreg.core import make_crop_pair
    >>> reference, moving = make_crop_pair(64, (2.25, -1.5), noise=0.05, seed=0)
    >>> result = register(reference, moving)
    >>> bool(abs(result.shift - (2.25, -1.5)).max() < 5 * result.error.max())
    True
    """
    ref = as_image(reference, "reference")
    mov = as_image(moving, "moving")
    check_same_shape(ref, mov, ("reference", "moving"))
    reference_mask, moving_mask = split_mask(mask, ref.shape)
    options = Options(
        upsample_factor=upsample_factor,
        boundary=boundary,
        zero_mean=zero_mean,
        max_shift=max_shift,
        prefilter=prefilter,
        threads=threads,
        errors=errors,
        brightness=brightness,
        outliers=outliers,
        clip_threshold=clip_threshold,
        saturation=saturation,
    )
    registrar = Registrar._one_off(
        ref, options, reference_error=reference_error, reference_mask=reference_mask
    )
    return registrar.register(mov, error=error, mask=moving_mask)
