"""The drop-in's public API: the spec's import paths, names, signatures and arities."""

import importlib
import inspect

import numpy as np
import pytest
from astropy.io import fits

import napari_imreg.image_registration as ir
from napari_imreg.core import make_crop_pair, make_extended, make_shifted

E = inspect.Parameter.empty

# (module path, function, [(parameter, default), ...]) from the spec's manual (release 0.2.5)
SPEC_SIGNATURES = [
    (
        "",
        "chi2_shift",
        [
            ("im1", E),
            ("im2", E),
            ("err", None),
            ("upsample_factor", "auto"),
            ("boundary", "wrap"),
            ("nthreads", 1),
            ("use_numpy_fft", False),
            ("zeromean", False),
            ("nfitted", 2),
            ("verbose", False),
            ("return_error", True),
            ("return_chi2array", False),
            ("max_auto_size", 512),
            ("max_nsig", 1.1),
        ],
    ),
    (
        "",
        "chi2_shift_iterzoom",
        [
            ("im1", E),
            ("im2", E),
            ("err", None),
            ("upsample_factor", "auto"),
            ("boundary", "wrap"),
            ("nthreads", 1),
            ("use_numpy_fft", False),
            ("zeromean", False),
            ("verbose", False),
            ("return_error", True),
            ("return_chi2array", False),
            ("zoom_shape", [10, 10]),
            ("rezoom_shape", [100, 100]),
            ("rezoom_factor", 5),
            ("mindiff", 1),
        ],
    ),
    (
        "",
        "chi2n_map",
        [
            ("im1", E),
            ("im2", E),
            ("err", None),
            ("boundary", "wrap"),
            ("nthreads", 1),
            ("zeromean", False),
            ("use_numpy_fft", False),
            ("return_all", False),
            ("reduced", False),
        ],
    ),
    (
        "",
        "cross_correlation_shifts",
        [
            ("image1", E),
            ("image2", E),
            ("errim1", None),
            ("errim2", None),
            ("maxoff", None),
            ("verbose", False),
            ("gaussfit", False),
            ("return_error", False),
            ("zeromean", True),
        ],
    ),
    # 0.2.10 replaced the spec's `quiet` (before sigma_cut) by `verbose` (after it); the
    # drop-in follows 0.2.10's order and keeps `quiet` keyword-only
    (
        "",
        "cross_correlation_shifts_FITS",
        [
            ("fitsfile1", E),
            ("fitsfile2", E),
            ("return_cropped_images", False),
            ("sigma_cut", False),
            ("verbose", False),
        ],
    ),
    (
        "",
        "register_images",
        [
            ("im1", E),
            ("im2", E),
            ("usfac", 1),
            ("return_registered", False),
            ("return_error", False),
            ("zeromean", True),
            ("DEBUG", False),
            ("maxoff", None),
            ("nthreads", 1),
            ("use_numpy_fft", False),
        ],
    ),
    (
        "iterative_zoom",
        "iterative_zoom",
        [
            ("image", E),
            ("mindiff", 1.0),
            ("zoomshape", [10, 10]),
            ("return_zoomed", False),
            ("zoomstep", 2),
            ("verbose", False),
            ("minmax", np.min),
            ("ploteach", False),
            ("return_center", True),
        ],
    ),
    (
        "iterative_zoom",
        "iterative_zoom_1d",
        [
            ("data", E),
            ("mindiff", 1.0),
            ("zoomshape", (10,)),
            ("return_zoomed", False),
            ("zoomstep", 2),
            ("verbose", False),
            ("minmax", np.min),
            ("return_center", True),
        ],
    ),
    ("fft_tools", "correlate2d", [("im1", E), ("im2", E), ("boundary", "wrap")]),
    (
        "fft_tools",
        "dftups",
        [("inp", E), ("nor", None), ("noc", None), ("usfac", 1), ("roff", 0), ("coff", 0)],
    ),
    ("fft_tools", "get_ffts", [("nthreads", 1), ("use_numpy_fft", True)]),
    (
        "fft_tools",
        "shift2d",
        [
            ("data", E),
            ("deltax", E),
            ("deltay", E),
            ("phase", 0),
            ("nthreads", 1),
            ("use_numpy_fft", False),
            ("return_abs", False),
            ("return_real", True),
        ],
    ),
    (
        "fft_tools",
        "shiftnd",
        [
            ("data", E),
            ("offset", E),
            ("phase", 0),
            ("nthreads", 1),
            ("use_numpy_fft", False),
            ("return_abs", False),
            ("return_real", True),
        ],
    ),
    (
        "fft_tools",
        "smooth",
        [
            ("image", E),
            ("kernelwidth", 3),
            ("kerneltype", "gaussian"),
            ("trapslope", None),
            ("silent", True),
            ("psf_pad", True),
            ("interp_nan", False),
            ("nwidths", "max"),
            ("min_nwidths", 6),
            ("return_kernel", False),
            ("normalize_kernel", np.sum),
            ("downsample", False),
            ("downsample_factor", None),
            ("ignore_edge_zeros", False),
        ],
    ),
    (
        "fft_tools",
        "upsample_image",
        [
            ("image", E),
            ("upsample_factor", 1),
            ("output_size", None),
            ("nthreads", 1),
            ("use_numpy_fft", False),
            ("xshift", 0),
            ("yshift", 0),
        ],
    ),
    (
        "fft_tools.convolve_nd",
        "convolvend",
        [
            ("array", E),
            ("kernel", E),
            ("boundary", "fill"),
            ("fill_value", 0),
            ("crop", True),
            ("return_fft", False),
            ("fftshift", True),
            ("fft_pad", True),
            ("psf_pad", False),
            ("interpolate_nan", False),
            ("quiet", False),
            ("ignore_edge_zeros", False),
            ("min_wt", 0.0),
            ("normalize_kernel", False),
            ("use_numpy_fft", True),
            ("nthreads", 1),
        ],
    ),
    (
        "fft_tools.zoom",
        "zoom1d",
        [
            ("inp", E),
            ("usfac", 1),
            ("outsize", None),
            ("offset", 0),
            ("nthreads", 1),
            ("use_numpy_fft", False),
            ("return_xouts", False),
            ("return_real", True),
        ],
    ),
    (
        "fft_tools.zoom",
        "zoom_on_pixel",
        [
            ("inp", E),
            ("coordinates", E),
            ("usfac", 1),
            ("outshape", None),
            ("nthreads", 1),
            ("use_numpy_fft", False),
            ("return_real", True),
            ("return_xouts", False),
        ],
    ),
    ("fft_tools.zoom", "zoomnd", [("inp", E), ("offsets", ()), ("middle_convention", float)]),
    (
        "fft_tools.upsample",
        "dftups1d",
        [("inp", E), ("usfac", 1), ("outsize", None), ("offset", 0), ("return_xouts", False)],
    ),
    (
        "fft_tools.upsample",
        "odddftups",
        [("inp", E), ("nor", None), ("noc", None), ("usfac", 1), ("roff", 0), ("coff", 0)],
    ),
    (
        "fft_tools.scale",
        "fourier_interp1d",
        [
            ("data", E),
            ("out_x", E),
            ("data_x", None),
            ("nthreads", 1),
            ("use_numpy_fft", False),
            ("return_real", True),
        ],
    ),
    (
        "fft_tools.scale",
        "fourier_interp2d",
        [
            ("data", E),
            ("outinds", E),
            ("nthreads", 1),
            ("use_numpy_fft", False),
            ("return_real", True),
        ],
    ),
    (
        "fft_tools.scale",
        "fourier_interpnd",
        [
            ("data", E),
            ("outinds", E),
            ("nthreads", 1),
            ("use_numpy_fft", False),
            ("return_real", True),
        ],
    ),
    ("FITS_tools", "fits_overlap", [("file1", E), ("file2", E)]),
    ("FITS_tools", "get_cd", [("wcs", E), ("n", 1)]),
    (
        "FITS_tools",
        "header_overlap",
        [("hdr1", E), ("hdr2", E), ("max_separation", 180), ("overlap", "union")],
    ),
    ("FITS_tools", "load_data", [("data", E)]),
    ("FITS_tools", "load_header", [("header", E)]),
    (
        "FITS_tools",
        "match_fits",
        # 0.2.10 added use_mad_std before return_header; the drop-in follows 0.2.10
        [
            ("fitsfile1", E),
            ("fitsfile2", E),
            ("header", None),
            ("sigma_cut", False),
            ("use_mad_std", True),
            ("return_header", False),
        ],
    ),
    ("FITS_tools", "project_to_header", [("fitsfile", E), ("header", E)]),
    (
        "FITS_tools",
        "register_fits",
        [
            ("fitsfile1", E),
            ("fitsfile2", E),
            ("errfile", None),
            ("return_error", True),
            ("register_method", ir.chi2_shift_iterzoom),
            ("return_cropped_images", False),
            ("return_shifted_image", False),
            ("return_header", False),
        ],
    ),
    ("tests", "make_extended", [("imsize", E), ("imsize2", None), ("powerlaw", 2.0)]),
    (
        "tests",
        "make_offset_extended",
        [
            ("img", E),
            ("xsh", E),
            ("ysh", E),
            ("noise", 1.0),
            ("mode", "wrap"),
            ("noise_taper", False),
        ],
    ),
]


@pytest.mark.parametrize(
    ("module", "name", "expected"), SPEC_SIGNATURES, ids=[s[1] for s in SPEC_SIGNATURES]
)
def test_signature_matches_the_spec(module, name, expected):
    path = "napari_imreg.image_registration" + ("." + module if module else "")
    function = getattr(importlib.import_module(path), name)
    parameters = [
        p
        for p in inspect.signature(function).parameters.values()
        if p.kind not in (p.VAR_KEYWORD, p.VAR_POSITIONAL)
    ]
    found = [(p.name, p.default) for p in parameters][: len(expected)]
    assert found == expected


@pytest.mark.parametrize(
    ("module", "names"),
    [
        (
            "",
            [
                "chi2_shift",
                "chi2_shift_iterzoom",
                "chi2n_map",
                "register_images",
                "cross_correlation_shifts",
                "cross_correlation_shifts_FITS",
                "iterative_zoom",
                "fft_tools",
                "FITS_tools",
                "tests",
            ],
        ),
        ("iterative_zoom", ["iterative_zoom", "iterative_zoom_1d"]),
        (
            "fft_tools",
            [
                "correlate2d",
                "dftups",
                "get_ffts",
                "shift2d",
                "shiftnd",
                "smooth",
                "upsample_image",
                "shift",
                "zoom",
                "upsample",
                "scale",
                "convolve_nd",
                "downsample",
                "smooth_tools",
                "fast_ffts",
            ],
        ),
        ("fft_tools.zoom", ["zoom1d", "zoomnd", "zoom_on_pixel"]),
        ("fft_tools.upsample", ["dftups", "dftups1d", "odddftups", "upsample_image"]),
        ("fft_tools.scale", ["fourier_interp1d", "fourier_interp2d", "fourier_interpnd"]),
        ("fft_tools.convolve_nd", ["convolvend", "convolve_nd", "convolve"]),
        ("fft_tools.correlate2d", ["correlate2d"]),
        (
            "fft_tools.downsample",
            ["downsample", "downsample_1d", "downsample_axis", "downsample_cube"],
        ),
        ("fft_tools.smooth_tools", ["smooth", "make_kernel"]),
        ("fft_tools.fast_ffts", ["get_ffts"]),
        ("fft_tools.shift", ["shift2d", "shiftnd"]),
        (
            "FITS_tools",
            [
                "fits_overlap",
                "header_overlap",
                "get_cd",
                "load_data",
                "load_header",
                "project_to_header",
                "match_fits",
                "register_fits",
                "hcongrid",
            ],
        ),
        ("FITS_tools.hcongrid", ["hcongrid"]),
        ("FITS_tools.match_images", ["project_to_header", "match_fits", "register_fits"]),
        ("FITS_tools.fits_overlap", ["fits_overlap", "header_overlap"]),
        ("tests", ["make_extended", "make_offset_extended"]),
        ("chi2_shifts", ["chi2_shift", "chi2_shift_iterzoom", "chi2n_map"]),
        ("register_images", ["register_images"]),
        (
            "cross_correlation_shifts",
            ["cross_correlation_shifts", "cross_correlation_shifts_FITS"],
        ),
    ],
)
def test_documented_import_paths(module, names):
    path = "napari_imreg.image_registration" + ("." + module if module else "")
    loaded = importlib.import_module(path)
    for name in names:
        assert hasattr(loaded, name), f"{path}.{name}"


@pytest.fixture(scope="module")
def pair():
    image = make_extended((40, 41), seed=0)
    return image, make_shifted(image, (1.5, -2.25), noise=0.05, seed=1)


@pytest.mark.parametrize("function", [ir.chi2_shift, ir.chi2_shift_iterzoom])
@pytest.mark.parametrize("return_error", [True, False])
@pytest.mark.parametrize("return_chi2array", [True, False])
def test_chi2_arity(pair, function, return_error, return_chi2array):
    out = function(*pair, return_error=return_error, return_chi2array=return_chi2array)
    assert len(out) == 2 + 2 * return_error + return_chi2array
    if return_chi2array:
        xvals, yvals, chi2 = out[-1]
        assert xvals.shape == yvals.shape == chi2.shape
        minimum = np.unravel_index(chi2.argmin(), chi2.shape)
        # the reference's convention: the chi2 minimum sits at (-dx, -dy)
        assert xvals[minimum] == pytest.approx(-out[0], abs=1 / 15)
        assert yvals[minimum] == pytest.approx(-out[1], abs=1 / 15)


@pytest.mark.parametrize("return_error", [True, False])
@pytest.mark.parametrize("return_registered", [True, False])
def test_register_images_arity(pair, return_error, return_registered):
    out = ir.register_images(
        *pair, usfac=10, return_error=return_error, return_registered=return_registered
    )
    assert len(out) == 2 + 2 * return_error + return_registered
    if return_registered:
        assert out[-1].shape == pair[0].shape
        assert np.abs(out[-1] - pair[0]).std() < 0.1


@pytest.mark.parametrize("return_error", [True, False])
def test_cross_correlation_arity(pair, return_error):
    out = ir.cross_correlation_shifts(*pair, return_error=return_error)
    assert isinstance(out, tuple)
    assert len(out) == 2 + 2 * return_error


@pytest.mark.parametrize("return_all", [True, False])
def test_chi2n_map_arity(pair, return_all):
    out = ir.chi2n_map(*pair, return_all=return_all)
    if return_all:
        assert len(out) == 4
        np.testing.assert_allclose(out[1] + out[2] + out[3], out[0])
    else:
        assert out.shape == pair[0].shape


def test_chi2n_map_reduced(pair):
    full = ir.chi2n_map(*pair)
    np.testing.assert_allclose(ir.chi2n_map(*pair, reduced=True), full / (full.size - 2))


@pytest.fixture(scope="module")
def fits_pair(tmp_path_factory):
    reference, moving = make_crop_pair(48, (1.25, -0.75), noise=0.05, seed=2)
    header = fits.Header(
        {
            "NAXIS": 2,
            "NAXIS1": 48,
            "NAXIS2": 48,
            "CTYPE1": "RA---TAN",
            "CTYPE2": "DEC--TAN",
            "CRVAL1": 30.0,
            "CRVAL2": -10.0,
            "CRPIX1": 24.5,
            "CRPIX2": 24.5,
            "CDELT1": -0.001,
            "CDELT2": 0.001,
        }
    )
    folder = tmp_path_factory.mktemp("fits")
    paths = []
    for name, data in (
        ("ref.fits", reference),
        ("mov.fits", moving),
        ("err.fits", np.full((48, 48), 0.05)),
    ):
        fits.PrimaryHDU(data, header).writeto(folder / name)
        paths.append(str(folder / name))
    return paths


@pytest.mark.parametrize("return_error", [True, False])
@pytest.mark.parametrize("return_cropped_images", [True, False])
@pytest.mark.parametrize("return_shifted_image", [True, False])
@pytest.mark.parametrize("return_header", [True, False])
def test_register_fits_arity(
    fits_pair, return_error, return_cropped_images, return_shifted_image, return_header
):
    out = ir.FITS_tools.register_fits(
        fits_pair[0],
        fits_pair[1],
        errfile=fits_pair[2],
        return_error=return_error,
        return_cropped_images=return_cropped_images,
        return_shifted_image=return_shifted_image,
        return_header=return_header,
        boundary="overlap",
    )
    assert (
        len(out)
        == 4 + 4 * return_error + 2 * return_cropped_images + return_shifted_image + return_header
    )
    xoff, yoff, xoff_wcs, yoff_wcs = out[:4]
    # moving is the reference displaced by -shift: the offset of image 2 from image 1
    assert xoff == pytest.approx(0.75, abs=0.05)
    assert yoff == pytest.approx(-1.25, abs=0.05)
    assert xoff_wcs == pytest.approx(xoff * -0.001)
    assert yoff_wcs == pytest.approx(yoff * 0.001)
    if return_error:
        exoff, eyoff, exoff_wcs, eyoff_wcs = out[4:8]
        assert 0 < exoff < 0.05
        assert exoff_wcs == pytest.approx(exoff * 0.001)
        assert eyoff_wcs == pytest.approx(eyoff * 0.001)
    if return_header:
        assert isinstance(out[-1], fits.Header)


@pytest.mark.parametrize("return_cropped_images", [True, False])
def test_cross_correlation_shifts_fits_arity(fits_pair, return_cropped_images):
    out = ir.cross_correlation_shifts_FITS(
        fits_pair[0], fits_pair[1], return_cropped_images=return_cropped_images
    )
    assert len(out) == 4 + 2 * return_cropped_images
    # a periodic correlation of non-periodic crops: right to a fraction of a pixel only
    assert out[0] == pytest.approx(0.75, abs=0.3)
    assert out[1] == pytest.approx(-1.25, abs=0.3)


@pytest.mark.parametrize("return_header", [True, False])
def test_match_fits_arity(fits_pair, return_header):
    out = ir.FITS_tools.match_fits(fits_pair[0], fits_pair[1], return_header=return_header)
    assert len(out) == 2 + return_header


@pytest.mark.parametrize("return_zoomed", [True, False])
def test_iterative_zoom_arity(return_zoomed):
    image = np.add.outer(np.cos(np.arange(16) / 3.0), np.cos(np.arange(16) / 3.0))
    out = ir.iterative_zoom.iterative_zoom(image, return_zoomed=return_zoomed)
    assert len(out) == (3 if return_zoomed else 2)


@pytest.mark.parametrize("shape", [(8, 8), (9, 9), (8, 11), (7, 10)])
@pytest.mark.parametrize("err_kind", ["none", "scalar", "map"])
def test_chi2n_map_equals_the_reference(shape, err_kind):
    """Same layout and the same terms as the reference, for even and odd sizes."""
    reference = pytest.importorskip("image_registration")
    rng = np.random.default_rng(7)
    im1, im2 = rng.normal(size=shape), rng.normal(size=shape)
    err = {"none": None, "scalar": 0.7, "map": rng.uniform(0.5, 2.0, shape)}[err_kind]
    ours = ir.chi2n_map(im1, im2, err=err, return_all=True)
    ref_err = err.copy() if isinstance(err, np.ndarray) else err  # the reference edits it
    theirs = reference.chi2n_map(im1, im2, err=ref_err, return_all=True)
    for mine, other in zip(ours, theirs, strict=True):
        np.testing.assert_allclose(mine, other, atol=1e-9)


@pytest.mark.parametrize("size", [9, 11])
def test_zoom_and_upsample_equal_the_reference_on_odd_sizes(size):
    """Without a Nyquist term (odd lengths) the Fourier tools agree with the reference."""
    reference = pytest.importorskip("image_registration.fft_tools")
    rng = np.random.default_rng(8)
    signal = rng.normal(size=size)
    image = rng.normal(size=(size, size + 2))
    np.testing.assert_allclose(
        ir.fft_tools.zoom.zoom1d(signal, usfac=3, outsize=7, offset=0.4),
        reference.zoom.zoom1d(signal, usfac=3, outsize=7, offset=0.4),
        atol=1e-10,
    )
    np.testing.assert_allclose(
        ir.fft_tools.upsample_image(image, upsample_factor=2, xshift=1, yshift=3),
        reference.upsample_image(image, upsample_factor=2, xshift=1, yshift=3).real,
        atol=1e-10,
    )
    np.testing.assert_allclose(
        ir.fft_tools.shiftnd(image, (0.3, -1.7)),
        reference.shiftnd(image, (0.3, -1.7)),
        atol=1e-10,
    )
