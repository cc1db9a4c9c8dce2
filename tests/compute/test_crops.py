"""Crops as batched tensor ops: inside each image's own size where images differ (augment.size own)."""
import torch

from pmtiqa.compute.crops import IMAGENET_MEAN, IMAGENET_STD, eval_crop_offsets, eval_crops, random_crops

MEAN = torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1)
STD = torch.tensor(IMAGENET_STD).view(1, 3, 1, 1)


def canvas(sizes):
    """uint8 images on one canvas: pixel value 1 + column inside each image, 0 on the empty rest of its row."""
    width, height = max(w for w, _ in sizes), max(h for _, h in sizes)
    images = torch.zeros(len(sizes), height, width, 3, dtype=torch.uint8)
    for row, (w, h) in zip(images, sizes):
        row[:h, :w] = (torch.arange(w) + 1).view(1, w, 1)
    return images, torch.tensor(sizes)


def pixels(crops):
    """Normalised crops back to their uint8 values."""
    return torch.round((crops * STD + MEAN) * 255)


def test_random_crops_stay_inside_each_image_s_own_size_and_cover_it():
    images, sizes = canvas([(40, 100), (100, 40), (33, 33), (100, 100)])
    index = torch.arange(4).repeat(100)
    crops = pixels(random_crops(images, index, 32, torch.Generator().manual_seed(0), sizes))
    assert crops.shape == (400, 3, 32, 32)
    assert (crops > 0).all()  # never a pixel of the empty canvas
    # the left offsets (first column's value - 1, or the last's after a flip) span 0..w - 32 of each image
    first = torch.minimum(crops[:, 0, 0, 0], crops[:, 0, 0, -1]) - 1
    for i, (w, _) in enumerate(sizes.tolist()):
        offsets = first[index == i]
        assert offsets.max() == w - 32 and offsets.min() == 0


def test_random_crops_of_equal_images_are_drawn_as_before():
    """Without sizes the draws are those of every earlier run: top, left, flip from one generator."""
    images = torch.randint(0, 256, (5, 48, 64, 3), dtype=torch.uint8)
    index = torch.tensor([0, 3, 4])
    crops = random_crops(images, index, 32, torch.Generator().manual_seed(1))
    g = torch.Generator().manual_seed(1)
    top, left = torch.randint(0, 17, (3,), generator=g), torch.randint(0, 33, (3,), generator=g)
    flip = torch.rand(3, generator=g) < 0.5
    for k in range(3):
        expected = images[index[k], top[k]:top[k] + 32, left[k]:left[k] + 32]
        expected = expected.flip(1) if flip[k] else expected
        assert torch.equal(pixels(crops[k:k + 1])[0], expected.permute(2, 0, 1).float())


def test_eval_crops_are_fixed_per_image_size_and_inside_it():
    images, sizes = canvas([(40, 100), (100, 40), (40, 100)])
    crops = pixels(eval_crops(images, torch.arange(3), 32, 4, sizes))
    assert crops.shape == (12, 3, 32, 32) and (crops > 0).all()
    assert torch.equal(crops[:4], crops[8:])  # two images of one size: the same crops
    top, left = eval_crop_offsets(100, 40, 32, 4)
    assert (top[0], left[0]) == (34, 4)  # the first is the centre
    assert crops[0, 0, 0, 0] == 4 + 1  # and it is where the crops of that image start
