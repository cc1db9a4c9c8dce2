"""An image decodes to the 8-bit RGB picture a viewer shows: every pixel mode Pillow opens (16-bit
scaled, not clipped to white; transparency over white), or is refused by name; ``stored`` decoding
gives the authors' pixels."""
import numpy as np
import pytest
from PIL import Image

from pmtiqa.core.errors import UserError
from pmtiqa.data.images import as_viewed, decode, decoded_size

RAMP = np.linspace(0, 255, 48 * 40).reshape(40, 48).round().astype(np.uint8)  # every shade, left to right
COLOURS = np.stack([RAMP, RAMP[::-1], np.full_like(RAMP, 90)], axis=2)


def grey(mode: str) -> Image.Image:
    """The ramp in a grey mode, 16-bit values 257 times the 8-bit ones (65535 is white)."""
    wide = RAMP.astype(np.uint32) * 257
    return Image.fromarray(wide.astype(np.uint16)) if mode == "I;16" else Image.fromarray(wide.astype(np.int32), "I")


def with_alpha(mode: str) -> Image.Image:
    opaque = Image.fromarray(COLOURS if mode == "RGBA" else RAMP).convert(mode)
    alpha = np.full(RAMP.shape, 255, np.uint8)
    alpha[:, :8] = 0  # the left columns transparent
    opaque.putalpha(Image.fromarray(alpha))
    return opaque


def shown_over_white(pixels: np.ndarray) -> np.ndarray:
    shown = np.repeat(pixels[..., None], 3, axis=2) if pixels.ndim == 2 else pixels.copy()
    shown[:, :8] = 255
    return shown


# (name, the image as saved, its format, the 8-bit RGB picture expected)
DECODED = [
    ("8-bit RGB", lambda: Image.fromarray(COLOURS), "PNG", COLOURS),
    ("8-bit grey", lambda: Image.fromarray(RAMP), "PNG", np.repeat(RAMP[..., None], 3, axis=2)),
    ("16-bit grey PNG (I;16)", lambda: grey("I;16"), "PNG", np.repeat(RAMP[..., None], 3, axis=2)),
    ("32-bit integer TIFF of 16-bit values (I)", lambda: grey("I"), "TIFF", np.repeat(RAMP[..., None], 3, axis=2)),
    ("palette", lambda: Image.fromarray(RAMP).convert("P"), "PNG", np.repeat(RAMP[..., None], 3, axis=2)),
    ("RGBA, left columns transparent", lambda: with_alpha("RGBA"), "PNG", shown_over_white(COLOURS)),
    ("LA, left columns transparent", lambda: with_alpha("LA"), "PNG", shown_over_white(RAMP)),
    ("bilevel", lambda: Image.fromarray(RAMP > 127), "PNG", np.repeat(np.where(RAMP > 127, 255, 0)[..., None], 3,
                                                                      axis=2).astype(np.uint8)),
]


@pytest.mark.parametrize("name, make, fmt, expected", DECODED, ids=[case[0] for case in DECODED])
def test_every_mode_becomes_the_picture_a_viewer_shows(tmp_path, name, make, fmt, expected):
    path = tmp_path / f"image.{fmt.lower()}"
    make().save(path, fmt)
    pixels, warning = decode(path, None)
    assert pixels.dtype == np.uint8 and warning is None
    assert np.array_equal(pixels, expected)
    resized, _ = decode(path, (24, 20))
    assert np.array_equal(resized, np.asarray(Image.fromarray(expected).resize((24, 20), Image.Resampling.BILINEAR)))


def test_cmyk_decodes_as_pillow_shows_it(tmp_path):
    path = tmp_path / "print.jpg"
    Image.fromarray(COLOURS).convert("CMYK").save(path, quality=95)
    pixels, _ = decode(path, None)
    with Image.open(path) as im:
        assert im.mode == "CMYK" and np.array_equal(pixels, np.asarray(im.convert("RGB")))


# (name, the image, the words that name why it has no 8-bit picture)
REFUSED = [
    ("32-bit float", lambda: Image.fromarray(RAMP.astype(np.float32) / 255), "pixel mode F (32-bit float)"),
    ("32-bit integers past 16 bits", lambda: Image.fromarray(RAMP.astype(np.int32) * 65536, "I"),
     "pixels from 0 to 16711680: not 16-bit"),
    ("negative integers", lambda: Image.fromarray(RAMP.astype(np.int32) - 100, "I"), "pixels from -100"),
]


@pytest.mark.parametrize("name, make, words", REFUSED, ids=[case[0] for case in REFUSED])
def test_a_mode_with_no_one_8_bit_picture_is_refused_by_name(tmp_path, name, make, words):
    path = tmp_path / "image.tiff"
    make().save(path)
    with pytest.raises(UserError, match="8 or 16 bits per channel") as err:
        decode(path, None)
    assert words in str(err.value)
    with pytest.raises(UserError, match="8 or 16 bits per channel"):
        as_viewed(make())


def photo(path, size: tuple[int, int], orientation: int | None = None) -> None:
    """A JPEG of fine detail (a draft-scaled decode loses some of it), with an EXIF orientation if given."""
    rng = np.random.default_rng(0)
    pixels = rng.integers(0, 256, (size[1], size[0], 3), dtype=np.uint8)
    exif = Image.Exif()
    if orientation is not None:
        exif[0x0112] = orientation
    Image.fromarray(pixels).save(path, quality=90, exif=exif)


def authors(path, size: tuple[int, int]) -> np.ndarray:
    """The authors' loader (open, convert to RGB) and a bilinear resize."""
    with Image.open(path) as im:
        return np.asarray(im.convert("RGB").resize(size, Image.Resampling.BILINEAR))


@pytest.mark.parametrize("stored_size, orientation", [((1100, 1100), None), ((90, 60), 6)])
def test_stored_decoding_is_the_authors_and_differs_from_upright(tmp_path, stored_size, orientation):
    """A JPEG large enough for the decoder's draft scaling, and one with an EXIF rotation: ``stored``
    gives exactly the authors' pixels; ``upright`` gives others (scaled while decoding, or turned)."""
    path = tmp_path / "photo.jpg"
    photo(path, stored_size, orientation)
    size = (512, 512) if orientation is None else (45, 30)
    stored, warning = decode(path, size, "stored")
    assert warning is None and np.array_equal(stored, authors(path, size))
    upright, _ = decode(path, size)
    assert upright.shape == stored.shape and not np.array_equal(upright, stored)
    assert decoded_size(path, "stored") == stored_size
    assert decoded_size(path, "upright") == (stored_size[::-1] if orientation else stored_size)


def test_stored_decoding_at_its_own_size_is_the_authors(tmp_path):
    path = tmp_path / "photo.jpg"
    photo(path, (60, 40), 6)
    with Image.open(path) as im:
        assert np.array_equal(decode(path, None, "stored")[0], np.asarray(im.convert("RGB")))
    assert decode(path, None)[0].shape == (60, 40, 3)  # upright: turned
