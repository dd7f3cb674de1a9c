"""The full chi2 surface, every term from the spectra of the weighted images."""

from __future__ import annotations

import numpy as np

from . import _fft
from ._brightness import OverlapSums, ProfiledSurface, TiltSums, fits_tilt, tilt_coordinates
from ._chi2 import Series, Surface, outer_product, whole_pixel_minimum
from ._filter import smooth
from ._prepare import PreparedImage, materialize, move


class Spectra:
    """Spectra of one side's weighted image: F(w X), F(w), F(w X**2) (w None: w is 1).

    F(w X**2) is needed only against a non-uniform weight on the other side, so
    it is computed on first use.
    """

    def __init__(self, image: PreparedImage, weight, padded, threads):
        x = image.data
        self._x = x
        self._padded = padded
        self._threads = threads
        self._w_x2 = None
        self._weight = weight
        self._moments = None
        self.keep = False
        self.w = None
        self.w_factors = None
        if weight is None:
            self._weighted = x
            self.sum_w = float(x.size)
        elif isinstance(weight, list):  # separable: keep one 1-D spectrum per axis
            self._weighted = x
            for axis, profile in enumerate(weight):
                self._weighted = self._weighted * profile.reshape(
                    [-1 if a == axis else 1 for a in range(x.ndim)]
                )
            self.w_factors = _profile_spectra(weight, padded)
            self.sum_w = float(np.prod([p.sum() for p in weight]))
        else:
            self._weighted = weight * x
            self.w = _fft.rfftn(weight, s=padded, threads=threads)
            self.sum_w = float(np.sum(weight))
        self.w_x = _fft.rfftn(self._weighted, s=padded, threads=threads)
        self.sum_w_x2 = float(np.vdot(self._weighted.ravel(), x.ravel()))
        self._sum_w_x = None

    @property
    def uniform(self) -> bool:
        return self.w is None and self.w_factors is None

    def times_weight(
        self, array: np.ndarray, *, conjugate: bool, in_place: bool = False
    ) -> np.ndarray:
        """``array`` times this side's weight spectrum (or its conjugate): a new array,
        or ``array`` itself when ``in_place``."""
        if self.w_factors is None:
            weight = np.conj(self.w) if conjugate else self.w
            if in_place:
                array *= weight
                return array
            return array * weight
        out = array if in_place else array.copy()
        for axis, factor in enumerate(self.w_factors):
            factor = np.conj(factor) if conjugate else factor
            out *= factor.reshape([-1 if a == axis else 1 for a in range(array.ndim)])
        return out

    @property
    def sum_w_x(self) -> float:
        if self._sum_w_x is None:
            self._sum_w_x = float(np.sum(self._weighted))
        return self._sum_w_x

    def release_squares(self) -> None:
        """Drop F(w X**2) and the arrays behind it unless this side is kept for reuse."""
        if not self.keep:
            if self._sum_w_x is None:
                self._sum_w_x = float(np.sum(self._weighted))
            self._w_x2 = self._weighted = self._x = self._weight = None

    @property
    def w_x2(self) -> np.ndarray:
        if self._w_x2 is None:
            self._w_x2 = _fft.rfftn(
                self._weighted * self._x, s=self._padded, threads=self._threads
            )
        return self._w_x2

    def moments(self) -> dict:
        """The spectra a tilt needs, each with its total, computed once:
        ``"w_x"``: F(w x_i), ``"w_xx"``: F(w x_i x_j) (``i <= j``), ``"w_x_x"``:
        F(w X x_i), ``x`` the pixel coordinates from the image's centre."""
        if self._moments is None:
            shape = self._x.shape
            weight = materialize(self._weight, shape)
            coords = [
                c.reshape([-1 if a == axis else 1 for a in range(len(shape))])
                for axis, c in enumerate(tilt_coordinates(shape))
            ]

            def spectrum(values):
                values = np.broadcast_to(values, shape)
                return _fft.rfftn(values, s=self._padded, threads=self._threads), float(
                    np.sum(values)
                )

            pairs = [(i, j) for i in range(len(shape)) for j in range(i, len(shape))]
            self._moments = {
                "w_x": [spectrum(weight * c) for c in coords],
                "w_xx": [spectrum(weight * coords[i] * coords[j]) for i, j in pairs],
                "w_x_x": [spectrum(self._weighted * c) for c in coords],
            }
        return self._moments


def _profile_spectra(profiles, shape) -> list[np.ndarray]:
    """The spectrum of each axis' 1-D profile zero-padded to ``shape`` (the last axis
    a half-spectrum): the factors of a separable weight's spectrum."""
    last = len(shape) - 1
    return [
        np.fft.rfft(p, n) if a == last else np.fft.fft(p, n)
        for a, (p, n) in enumerate(zip(profiles, shape, strict=True))
    ]


def _correlated(first, second) -> list[np.ndarray]:
    """The factors of the correlation of two separable spectra, axis by axis."""
    return [a * np.conj(b) for a, b in zip(first, second, strict=True)]


def _filtered(cross, transfer, shape) -> Series | None:
    """The cross term through the filter's per-axis ``transfer`` (None: no filter).
    Only its curvature at the minimum is needed, for the error: single precision."""
    if transfer is None:
        return None
    spectrum = cross.astype(np.complex64)
    for axis, factor in enumerate(transfer):
        spectrum *= factor.astype(np.float32).reshape(
            [-1 if a == axis else 1 for a in range(cross.ndim)]
        )
    return Series(spectrum, shape)


def _product(first: np.ndarray, second: np.ndarray) -> np.ndarray:
    """``first * conj(second)`` with a single new array."""
    out = np.conj(second)
    out *= first
    return out


def _nyquist_planes(shape) -> list[tuple]:
    """Index tuples of the Nyquist planes of the even axes of an rfftn spectrum."""
    planes = []
    for axis, n in enumerate(shape):
        if n % 2 == 0 and n > 2:
            index = [slice(None)] * len(shape)
            index[axis] = n // 2
            planes.append(tuple(index))
    return planes


def _energy(spectrum: np.ndarray, planes, shape) -> float:
    """``sum |x|**2`` carried by the given planes of an rfftn spectrum (Parseval).

    Each plane is read on its own (a few rows of the spectrum); an entry shared
    with an earlier plane is counted once.
    """
    if not planes:
        return 0.0
    counts = np.full(spectrum.shape[-1], 2.0)  # each stored frequency stands for two...
    counts[0] = 1.0  # ...but zero
    if shape[-1] % 2 == 0:
        counts[-1] = 1.0  # and the last axis' Nyquist
    axes = [next(a for a, i in enumerate(plane) if not isinstance(i, slice)) for plane in planes]
    total = 0.0
    for j, (plane, axis) in enumerate(zip(planes, axes, strict=True)):
        values = np.abs(spectrum[plane]) ** 2
        values *= counts if axis != spectrum.ndim - 1 else counts[-1]
        for earlier, other in zip(planes[:j], axes[:j], strict=True):
            shared = [slice(None)] * values.ndim
            shared[other] = earlier[other]  # earlier planes lie on lower axes
            values[tuple(shared)] = 0.0
        total += float(np.sum(values))
    return total / float(np.prod(shape))


def surface_from_spectra(
    ref: Spectra,
    mov: Spectra,
    padded,
    *,
    fit_offset: bool,
    split_noise: bool,
    transfer=None,
    drop_nyquist: bool = False,
) -> Surface:
    """The surface of ``A``, ``W`` and (with ``fit_offset``) ``B`` from both sides' spectra.

    A side whose weight is uniform (``w`` None) contributes constants instead of
    spectra: a correlation with a constant is the constant times the other sum.
    The moving side's spectra are not to be used again (their memory may be
    reused). With ``split_noise`` the surface also carries ``T1 - T2``, the reference's
    share of the residual (see :meth:`Surface.reference_share`). ``transfer``
    (one 1-D array per axis) gives ``T2`` filtered once more by that transfer
    function, for the covariance of a filtered registration. ``drop_nyquist``
    leaves the Nyquist frequency of even axes out of ``T2``: a sub-pixel shift of
    a real image cannot be represented there, and that term would pull the peak.
    """
    shape = tuple(padded)
    # T1 = corr(a R**2, b), T2 = corr(a R, b M), T3 = corr(a, b M**2); a uniform
    # side turns T1 or T3 into a constant.
    t1_constant = ref.sum_w_x2 if mov.uniform else 0.0
    t3_constant = mov.sum_w_x2 if ref.uniform else 0.0
    nyquist = _nyquist_planes(shape) if drop_nyquist else []
    if ref.uniform and mov.uniform:
        # Leave the Nyquist terms out of the sums too (Parseval), so that the
        # residual stays a sum of squares over the frequencies compared.
        t1_constant -= _energy(ref.w_x, nyquist, shape)
        t3_constant -= _energy(mov.w_x, nyquist, shape)
    t1 = t3 = None
    if not (ref.uniform and mov.uniform):
        # The squared images' terms first, so that each side can drop its
        # weighted image (unless kept for reuse) before the cross terms are made.
        # A side not kept gives up the memory of its F(w X**2) too.
        if not mov.uniform:
            t1 = mov.times_weight(ref.w_x2, conjugate=True, in_place=not ref.keep)
        if not ref.uniform:
            term = mov.w_x2 if not mov.keep else mov.w_x2.copy()
            t3 = ref.times_weight(np.conj(term, out=term), conjugate=False, in_place=True)
            del term
        ref.release_squares()
        mov.release_squares()
    if ref.uniform and mov.uniform and transfer is None:
        # Only the cross term needs the moving spectrum: reuse its memory.
        cross = np.conj(mov.w_x, out=mov.w_x)
        cross *= ref.w_x
    else:
        cross = _product(ref.w_x, mov.w_x)
    for plane in nyquist:
        cross[plane] = 0.0
    filtered_cross = _filtered(cross, transfer, shape)
    reference_part = None
    if mov.uniform and ref.uniform:
        residual = Series(cross, shape, scale=-2.0, constant=t1_constant + t3_constant)
        if split_noise:
            reference_part = Series(cross, shape, scale=-1.0, constant=t1_constant)
    else:
        if split_noise:
            # Only its ratio to the residual is needed: single precision.
            if t1 is None:
                part = np.negative(cross, dtype=np.complex64)
            else:
                part = t1.astype(np.complex64)
                part -= cross
            reference_part = Series(part, shape, constant=t1_constant)
            del part
        spectrum = cross
        spectrum *= -2.0
        for term in (t1, t3):
            if term is not None:
                spectrum += term
        del t1, t3, term
        residual = Series(spectrum, shape, constant=t1_constant + t3_constant)

    if ref.uniform and mov.uniform:
        weight = Series(None, shape, constant=float(np.prod(shape)))
    elif ref.uniform:
        weight = Series(None, shape, constant=mov.sum_w)
    elif mov.uniform:
        weight = Series(None, shape, constant=ref.sum_w)
    elif ref.w_factors is not None and mov.w_factors is not None:
        factors = _correlated(ref.w_factors, mov.w_factors)
        weight = Series(None, shape, factors=factors)
    else:
        full = ref.w if ref.w is not None else outer_product(ref.w_factors)
        weight = Series(mov.times_weight(full, conjugate=True), shape)

    offset = None
    if fit_offset and not (ref.uniform and mov.uniform):
        # B(s) = corr(a R, b) - corr(a, b M); a uniform side gives a constant.
        spectrum, constant = None, 0.0
        if mov.uniform:
            constant += ref.sum_w_x
        else:
            spectrum = mov.times_weight(ref.w_x, conjugate=True)
        if ref.uniform:
            constant -= mov.sum_w_x
        else:
            # The moving spectrum's last use: conjugate and weight it in place.
            term = ref.times_weight(np.conj(mov.w_x, out=mov.w_x), conjugate=False, in_place=True)
            if spectrum is None:
                spectrum = np.negative(term, out=term)
            else:
                spectrum -= term
        offset = Series(spectrum, shape, constant=constant)
    return Surface(residual, weight, offset, shape, reference_part, filtered_cross)


def _weight_term(ref: Spectra, mov: Spectra, shape) -> Series:
    """``W = corr(a, b)`` from both sides' weight spectra (constant for a uniform side)."""
    if ref.uniform and mov.uniform:
        return Series(None, shape, constant=float(np.prod(shape)))
    if ref.uniform:
        return Series(None, shape, constant=mov.sum_w)
    if mov.uniform:
        return Series(None, shape, constant=ref.sum_w)
    if ref.w_factors is not None and mov.w_factors is not None:
        factors = _correlated(ref.w_factors, mov.w_factors)
        return Series(None, shape, factors=factors)
    full = ref.w if ref.w is not None else outer_product(ref.w_factors)
    return Series(mov.times_weight(full, conjugate=True), shape)


def profiled_from_spectra(
    ref: Spectra, mov: Spectra, padded, brightness: str, *, transfer=None, drop_nyquist=False
) -> ProfiledSurface:
    """The surface with the gain and offset profiled out, from its six overlap sums
    (:class:`~napari_imreg.core._brightness.OverlapSums`), each the correlation of
    one side's spectrum with the other's weight (a constant against a uniform side).
    ``transfer`` and ``drop_nyquist`` as in :func:`surface_from_spectra`."""
    shape = tuple(padded)
    nyquist = _nyquist_planes(shape) if drop_nyquist else []

    def against(spectrum, other: Spectra, total, *, conjugate_own: bool) -> Series:
        # corr of this side's weighted values with the other side's weight.
        if other.uniform:
            return Series(None, shape, constant=total)
        # A conjugated spectrum is a new array: weighed where it lies.
        own = np.conj(spectrum) if conjugate_own else spectrum
        weighed = other.times_weight(own, conjugate=not conjugate_own, in_place=conjugate_own)
        return Series(weighed, shape)

    both_uniform = ref.uniform and mov.uniform
    rr_total = ref.sum_w_x2 - (_energy(ref.w_x, nyquist, shape) if both_uniform else 0.0)
    mm_total = mov.sum_w_x2 - (_energy(mov.w_x, nyquist, shape) if both_uniform else 0.0)
    rr = against(ref.w_x2, mov, rr_total, conjugate_own=False) if not mov.uniform else None
    mm = against(mov.w_x2, ref, mm_total, conjugate_own=True) if not ref.uniform else None
    tilt = None
    if fits_tilt(brightness):
        # Each of the reference's moments against the moving weight, and its
        # coordinates against the moving values.
        moments = ref.moments()
        tilt = TiltSums(
            *(
                tuple(against(f, mov, total, conjugate_own=False) for f, total in moments[key])
                for key in ("w_x", "w_xx", "w_x_x")
            ),
            tuple(Series(_product(f, mov.w_x), shape) for f, _ in moments["w_x"]),
        )
    ref.release_squares()
    mov.release_squares()
    if ref.uniform and not mov.keep:
        # Nothing below reads the moving spectrum (against a uniform reference its
        # sum is a constant): the cross term takes its memory.
        cross = np.conj(mov.w_x, out=mov.w_x)
        cross *= ref.w_x
    else:
        cross = _product(ref.w_x, mov.w_x)
    for plane in nyquist:
        cross[plane] = 0.0
    filtered = _filtered(cross, transfer, shape)
    sums = OverlapSums(
        w=_weight_term(ref, mov, shape),
        r=against(ref.w_x, mov, ref.sum_w_x, conjugate_own=False),
        m=against(mov.w_x, ref, mov.sum_w_x, conjugate_own=True),
        rr=rr if rr is not None else Series(None, shape, constant=rr_total),
        mm=mm if mm is not None else Series(None, shape, constant=mm_total),
        rm=Series(cross, shape),
        tilt=tilt,
    )
    return ProfiledSurface(sums, brightness, shape, filtered_cross=filtered)


def full_surface(engine, ref_spec: Spectra, mov_spec: Spectra, *, split_noise=False):
    """The surface of both sides' spectra, on the FFT shape they were made at."""
    padded = ref_spec._padded
    transfer = engine._transfer(padded, power=2) if engine._smooth else None
    if engine.brightness in ("scale+offset", "scale+offset+tilt"):
        return profiled_from_spectra(
            ref_spec,
            mov_spec,
            padded,
            engine.brightness,
            transfer=transfer,
            drop_nyquist=engine.boundary == "wrap",
        )
    return surface_from_spectra(
        ref_spec,
        mov_spec,
        padded,
        fit_offset=engine.zero_mean,
        split_noise=split_noise,
        transfer=transfer,
        drop_nyquist=engine.boundary == "wrap",
    )


def noise_overlap(engine, image: PreparedImage, padded) -> Series | None:
    """The noise's expected share of a surface weighted by noise maps: ``corr(a, b)``,
    the overlap of the two images' geometric weights (taper and validity), as a
    term of the shift; None where it is constant (no taper, nothing masked).

    The weights are the inverse of the noise model's variance, so each pixel's
    squared residual has a noise part of expectation one: ``A(s)`` holds
    ``sum a(x) b(x - s)`` of noise. With uniform weights that is the constant noise
    variance times ``W(s)``, and ``f = A / W`` holds a constant. With weights that
    vary across the scene it is not proportional to ``W(s)``: ``f`` would then
    prefer the shifts whose overlap takes in more quiet pixels (a bias of the order
    of the shift's scatter on 256² real crops whose dark surround is twenty times
    quieter than their structure). Subtracted, ``f`` compares the signal alone.
    """
    ref_weight = engine._base_weight(engine._reference)
    mov_weight = engine._base_weight(image)
    if ref_weight is None and mov_weight is None:
        return None
    shape = tuple(padded)
    if isinstance(ref_weight, list) and isinstance(mov_weight, list):
        first, second = (_profile_spectra(weight, shape) for weight in (ref_weight, mov_weight))
        return Series(None, shape, factors=_correlated(first, second))
    first = _fft.rfftn(materialize(ref_weight, engine.shape), s=shape, threads=engine.threads)
    second = _fft.rfftn(materialize(mov_weight, engine.shape), s=shape, threads=engine.threads)
    return Series(_product(first, second), shape)


def weighted_spectra(
    engine, image: PreparedImage, variance, *, cache_key=None, padded=None
) -> Spectra:
    """The spectra of ``image`` weighed by the taper, its valid pixels and (a noise
    map) the inverse of ``variance``, at the FFT shape ``padded`` (None: the
    engine's, for every shift in range). ``cache_key``: the engine keeps the latest
    such spectra (the reference's) under that key."""
    cached = None if cache_key is None else engine._reference_cache.get(cache_key)
    if cached is not None:
        return cached
    weight = engine._base_weight(image)
    if isinstance(variance, np.ndarray):
        weight = materialize(weight, engine.shape)
        if engine._smooth:  # the variance of the filtered image
            variance = smooth(
                np.where(np.isfinite(variance), variance, 0.0),
                [kernel**2 for kernel in engine._kernels],
            )
        inverse = 1.0 / np.where(variance > 0, variance, np.inf)
        weight = inverse if weight is None else weight * inverse
    padded = engine._padded if padded is None else tuple(padded)
    spectra = Spectra(image, weight, padded, engine.threads)
    if cache_key is not None and engine.keep_reference_spectra:
        # Only the latest is kept (bounded memory), in a new dict: threads sharing the
        # engine may be reading the old one, under another key (another padding).
        engine._reference_cache = {cache_key: spectra}
        spectra.keep = True
    return spectra


def spectral_surface(
    engine,
    image: PreparedImage,
    ref_var,
    mov_var,
    *,
    split_noise: bool,
    gained: bool = False,
    padded=None,
    search=None,
):
    """The surface from the spectra of every term, its whole-pixel minimum, a
    sub-pixel guess from there, and the reference's weighted mean square.
    ``gained``: ``mov_var`` is already in the reference's units (times the squared
    gain).

    ``padded`` and ``search``: the FFT shape and the search of the surface's
    whole-pixel minimum (``search(surface)`` returns it and the guess). None: the
    engine's shape, exact at every shift in range, searched over the whole range.
    The large-image road gives a shape exact near its binned estimate, and a
    search there (``_surface_binned.masked_surface``).
    """
    if search is None:

        def search(surface):
            start, offset = whole_pixel_minimum(
                surface.for_search(),
                engine._limits,
                min_weight_fraction=0.25,
                threads=engine.threads,
                allowed=engine.allowed,
            )
            return start, start + offset

    padded = engine._padded if padded is None else tuple(padded)
    ref_map = isinstance(ref_var, np.ndarray)
    mov_map = isinstance(mov_var, np.ndarray)
    if mov_map:
        # A moving noise map: the variance of the difference lives in two frames.
        # Find the whole-pixel shift first, unweighted as with scalar errors (weights
        # on both sides would multiply, and a wrong shift that lays the quietest
        # pixels on each other could win), then carry the moving map into the
        # reference frame, so that one weight, fixed there, holds the total variance.
        plain = _unweighted(engine, image, padded)
        _, guess = search(plain)
        # The moving image's noise in the reference's units: times the fitted gain
        # (read at the sub-pixel guess: a pixel off, the match and the gain are lower).
        moved = move(mov_var, np.round(guess).astype(int), wrap=True)
        weights_gain2 = gain_squared(engine, plain, guess, mov_var)
        total = ref_var + weights_gain2 * moved
        ratio = score_ratio(plain, guess) if engine._smooth else None
        del plain  # its spectra go before the weighted ones are made
        ref_spec, mov_spec = (
            weighted_spectra(engine, engine._reference, total, padded=padded),
            weighted_spectra(engine, image, None, padded=padded),
        )
    elif ref_map:
        key = ("map", float(mov_var), padded)
        ref_spec = weighted_spectra(
            engine, engine._reference, ref_var + mov_var, cache_key=key, padded=padded
        )
        mov_spec = weighted_spectra(engine, image, None, padded=padded)
    else:
        ref_spec = weighted_spectra(
            engine, engine._reference, None, cache_key=("plain", padded), padded=padded
        )
        mov_spec = weighted_spectra(engine, image, None, padded=padded)
    surface = full_surface(engine, ref_spec, mov_spec, split_noise=split_noise)
    reference_power = ref_spec.sum_w_x2 / ref_spec.sum_w  # its weighted mean square
    del ref_spec, mov_spec
    if ref_map or mov_map:
        surface.noise_overlap = noise_overlap(engine, image, padded)
    if mov_map and isinstance(surface, ProfiledSurface):
        surface.weights_gain = weights_gain2**0.5

    start, guess = search(surface)
    if not gained and ref_map and not mov_map and np.any(mov_var):
        # A reference noise map: its weights hold the moving noise at unit gain. Once the
        # gain is known at the whole-pixel minimum, weigh again with it.
        gain2 = gain_squared(engine, surface, guess, mov_var)
        if not np.isclose(gain2, 1.0, rtol=1e-3):
            surface, start, guess, reference_power = spectral_surface(
                engine,
                image,
                ref_var,
                mov_var * gain2,
                split_noise=split_noise,
                gained=True,
                padded=padded,
                search=search,
            )
            surface.weights_gain = gain2**0.5
            return surface, start, guess, reference_power
    if (ref_map or mov_map) and engine._smooth:
        surface.score_ratio = (
            ratio if mov_map else score_ratio(_unweighted(engine, image, padded), guess)
        )
    return surface, start, guess, reference_power


def _unweighted(engine, image: PreparedImage, padded):
    """The surface of ``image`` against the reference weighed by the taper and the
    valid pixels alone (no noise map), at the FFT shape ``padded``."""
    return full_surface(
        engine,
        weighted_spectra(
            engine, engine._reference, None, cache_key=("plain", padded), padded=padded
        ),
        weighted_spectra(engine, image, None, padded=padded),
    )


def score_ratio(plain, point) -> np.ndarray:
    """What the score's covariance of a surface weighted by noise maps reads from the
    same images' unweighted surface ``plain`` at ``point``: its filtered cross
    term's curvature (times the fitted gain) over its Hessian and weight,
    ``g C H^-1 / W``. Times the weighted surface's chi2 Hessian, it is that
    surface's score covariance up to the factors of ``_errors._score_covariance``.

    The weighted cross term's own curvature holds the weights' gradient times the
    images' level, wherever the map jumps (a dark, quiet surround beside bright
    structure): errors 3-4x too large. The unweighted surface has no such term,
    and the ratio of its score to its curvature, the noise's correlation by the
    filter, is the weighted one's; with a constant map the two agree exactly.
    """
    if isinstance(plain, ProfiledSurface):
        plain.gain = float(plain.fit_at(point).scale)
    _, _, hessian = plain.derivatives(point)
    curvature = -plain.filtered_cross.derivatives(point)[2]
    with np.errstate(divide="ignore", invalid="ignore"):
        return curvature @ np.linalg.inv(hessian) / plain.weight_at(point)


def gain_squared(engine, surface, point, mov_var) -> float:
    """The moving noise's factor into the reference's units at ``point``: the squared
    fitted gain over its dilution by that noise (1 when no gain is fitted)."""
    if not isinstance(surface, ProfiledSurface):
        return 1.0
    gain = float(surface.fit_at(point).scale)
    if not np.any(mov_var):
        return gain**2
    return gain**2 / surface.dilution(point, float(np.nanmean(mov_var)) * engine._variance_factor)
