"""Datasets on small real files: Fashion-MNIST, digits, a folder with bad files, CIFAR-10."""
import gzip
import io
import pickle
import shutil

import numpy as np
import pytest
from conftest import require_fashion_mnist
from PIL import Image
from vizkit_plugins import fashion_mnist

from vizkit.errors import DatasetMissingError, ImageDecodeError, UnknownNameError
from vizkit.images import decode_image
from vizkit.registry import get_registry

SYSTEM = fashion_mnist.SYSTEM_DIR


def test_fashion_mnist_from_the_debian_package():
    require_fashion_mnist()
    ds = get_registry().open_dataset("fashion-mnist")
    assert len(ds) == 70_000 and ds.classes[9] == "Ankle boot"
    assert (ds.splits == "train").sum() == 60_000 and ds.ids[60_000] == "test/00000"
    batch = next(ds.iter_batches(8, start=60_000))
    assert batch.images.shape == (8, 28, 28) and batch.images.dtype == np.uint8
    assert batch.labels.tolist() == [9, 2, 1, 1, 6, 1, 4, 6]  # the known first test labels
    head = get_registry().open_dataset("fashion-mnist[:100]")
    assert len(head) == 100 and head.fingerprint != ds.fingerprint


def test_fashion_mnist_download_verifies_and_caches(tmp_path, monkeypatch):
    require_fashion_mnist()
    mirror = tmp_path / "mirror"
    shutil.copytree(SYSTEM, mirror)
    monkeypatch.setattr(fashion_mnist, "SYSTEM_DIR", tmp_path / "absent")
    monkeypatch.setenv("VIZKIT_FASHION_MNIST_URL", mirror.as_uri())
    folder = fashion_mnist.find_or_download()
    assert folder == tmp_path / "data" / "cache" / "fashion-mnist"
    assert sorted(p.name for p in folder.iterdir()) == sorted(fashion_mnist.FILES)


def test_fashion_mnist_corrupt_download_is_rejected(tmp_path, monkeypatch):
    mirror = tmp_path / "mirror"
    mirror.mkdir()
    for name in fashion_mnist.FILES:
        (mirror / name).write_bytes(gzip.compress(b"not the data"))
    monkeypatch.setattr(fashion_mnist, "SYSTEM_DIR", tmp_path / "absent")
    monkeypatch.setenv("VIZKIT_FASHION_MNIST_URL", mirror.as_uri())
    with pytest.raises(DatasetMissingError, match="checksum"):
        fashion_mnist.find_or_download()


def test_fashion_mnist_offline_error_says_both_fixes(tmp_path, monkeypatch):
    monkeypatch.setattr(fashion_mnist, "SYSTEM_DIR", tmp_path / "absent")
    monkeypatch.setenv("VIZKIT_FASHION_MNIST_URL", (tmp_path / "nowhere").as_uri())
    with pytest.raises(DatasetMissingError) as e:
        get_registry().open_dataset("fashion-mnist")
    assert "apt-get install dataset-fashion-mnist" in str(e.value)
    assert "VIZKIT_FASHION_MNIST_DIR" in str(e.value)


def test_digits():
    ds = get_registry().open_dataset("digits")
    assert len(ds) == 1797 and ds.image_array(0).shape == (8, 8)
    assert set(ds.splits) == {"train", "test"} and ds.classes == [str(i) for i in range(10)]


def _png(img: Image.Image) -> bytes:
    buf = io.BytesIO()
    img.save(buf, format="PNG")
    return buf.getvalue()


def test_folder_with_classes_and_bad_files(tmp_path):
    root = tmp_path / "photos"
    (root / "cats").mkdir(parents=True)
    (root / "dogs").mkdir()
    Image.new("RGB", (40, 30), (200, 10, 10)).save(root / "cats" / "a.jpg")
    Image.new("RGBA", (20, 20), (0, 0, 255, 0)).save(root / "cats" / "b.png")
    Image.new("P", (16, 16), 3).save(root / "dogs" / "c.bmp")
    Image.fromarray(np.arange(64 * 64, dtype=np.uint16).reshape(64, 64) * 16).save(
        root / "dogs" / "d.tiff")
    Image.new("L", (10, 10), 128).save(root / "dogs" / "e.webp")
    (root / "dogs" / "broken.jpg").write_bytes(b"\xff\xd8\xff garbage")
    (root / "dogs" / "notes.txt").write_text("not an image")
    ds = get_registry().open_dataset(f"folder:{root}")
    assert ds.classes == ["cats", "dogs"] and len(ds) == 5
    assert sorted(f for f, _ in ds.skipped) == ["dogs/broken.jpg", "dogs/notes.txt"]
    assert ds.labels.tolist() == [0, 0, 1, 1, 1]
    rgba = ds.image_array(1)
    assert rgba.shape == (20, 20, 3) and (rgba == 255).all()  # transparent → white
    sixteen = ds.image_array(3)
    assert sixteen.dtype == np.uint8 and sixteen.max() == 255
    assert [b.images for b in ds.iter_batches(2)][0][0].shape == (30, 40, 3)


def test_flat_folder_is_unlabelled_and_exif_is_honoured(tmp_path):
    img = Image.new("RGB", (40, 20), (0, 200, 0))
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90°
    img.save(tmp_path / "rotated.jpg", exif=exif)
    ds = get_registry().open_dataset(f"folder:{tmp_path}")
    assert ds.classes == [] and ds.labels.tolist() == [-1]
    assert ds.image_array(0).shape == (40, 20, 3)


def test_folder_errors(tmp_path):
    with pytest.raises(DatasetMissingError, match="not a folder"):
        get_registry().open_dataset(f"folder:{tmp_path / 'nope'}")
    (tmp_path / "x.txt").write_text("x")
    with pytest.raises(DatasetMissingError, match="No readable images"):
        get_registry().open_dataset(f"folder:{tmp_path}")
    with pytest.raises(UnknownNameError, match="Did you mean 'folder"):
        get_registry().open_dataset("foldr:/x")


def test_cifar10_pickle_layout(tmp_path):
    root = tmp_path / "cifar-10-batches-py"
    root.mkdir()
    rng = np.random.default_rng(0)
    data = rng.integers(0, 256, size=(6, 3072), dtype=np.uint8)
    with open(root / "test_batch", "wb") as fh:
        pickle.dump({b"data": data, b"labels": [0, 1, 2, 3, 4, 5]}, fh)
    with open(root / "batches.meta", "wb") as fh:
        pickle.dump({b"label_names": [b"airplane", b"automobile", b"bird", b"cat", b"deer",
                                      b"dog", b"frog", b"horse", b"ship", b"truck"]}, fh)
    ds = get_registry().open_dataset(f"cifar10:{tmp_path}")
    assert len(ds) == 6 and ds.classes[3] == "cat" and set(ds.splits) == {"test"}
    np.testing.assert_array_equal(ds.image_array(1)[:, :, 0].ravel(), data[1, :1024])
    with pytest.raises(DatasetMissingError, match="No CIFAR-10 batches"):
        get_registry().open_dataset(f"cifar10:{tmp_path / 'empty'}")


@pytest.mark.parametrize("payload", [b"", b"hello", b"\x89PNG\r\n\x1a\n" + b"\0" * 40])
def test_bad_uploads_get_a_clear_error(payload):
    with pytest.raises(ImageDecodeError, match="not a readable image"):
        decode_image(payload)


def test_decompression_bomb_is_refused(monkeypatch):
    from vizkit import images

    monkeypatch.setattr(images, "MAX_PIXELS", 100)
    with pytest.raises(ImageDecodeError, match="megapixels|bomb"):
        decode_image(_png(Image.new("L", (20, 20))))
