"""The TensorBoard dashboards (nndigits.dashboards), read back with TensorBoard's own reader.

A real two-epoch run of ``python -m nndigits.train`` on MNIST writes the event
file; the tests check what TensorBoard would show from it: the scalars (equal to
the printed ``Epoch j: k / 10000`` lines), the custom-scalars layout, the
HParams data, the images and the histograms -- and that ``--no-images`` leaves
the images and histograms out.
"""

import re
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
from tensorboard.plugins.custom_scalar import layout_pb2
from tensorboard.plugins.hparams import plugin_data_pb2

from nndigits.learn import dashboards
from nndigits.train import main

ALL = {"images": 0, "histograms": 0, "tensors": 0, "scalars": 0}
WB = "weights and biases/"
HISTOGRAMS = {WB + "hidden1 weights", WB + "hidden1 biases", WB + "output weights", WB + "output biases"}
HISTOGRAMS |= {"val/output_activations"}
IMAGES = {WB + "first layer's incoming weights", "test/mistakes (true as predicted)", "test/confusion_matrix"}


def _read(logdir: Path) -> EventAccumulator:
    """The run's event files, everything in them (no sampling)."""
    (run,) = logdir.glob("*/version_0")
    events = EventAccumulator(str(run), size_guidance=ALL)
    events.Reload()
    return events


@pytest.fixture(scope="module")
def shared_run(book_run):
    """conftest's shared 2-epoch run of the book's network: (events, what it printed, its run folder)."""
    return _read(book_run.logdir), book_run.printed, book_run.run


def test_scalars_match_the_printed_epochs(shared_run):
    events, printed, _ = shared_run
    book = [(int(j), int(k) / int(n)) for j, k, n in re.findall(r"^Epoch (\d+): (\d+) / (\d+)", printed, re.M)]
    assert [j for j, _ in book] == [0, 1]
    logged = [(e.step, e.value) for e in events.Scalars("test/accuracy")]
    assert [s for s, _ in logged] == [0, 1]
    assert [v for _, v in logged] == pytest.approx([a for _, a in book], abs=1e-6)
    for tag in ("train/cost", "val/cost", "test/cost", "val/accuracy"):
        assert [e.step for e in events.Scalars(tag)] == [0, 1], tag
    assert [(e.step, e.value) for e in events.Scalars("train/lr")] == [(0, 3.0), (1, 3.0)]


def test_custom_scalars_chart_one_named_quantity_each(shared_run):
    """TensorBoard tells series apart by run colour, and one run's tags by marker shape only: one tag a chart."""
    events, _, _ = shared_run
    (config,) = events.Tensors("custom_scalars__config__")
    layout = layout_pb2.Layout.FromString(config.tensor_proto.string_val[0])
    charts = {chart.title: list(chart.multiline.tag) for category in layout.category for chart in category.chart}
    scalars = set(events.Tags()["scalars"])
    for title, tags in charts.items():
        (tag,) = tags
        name = tag.strip("^$")
        assert name in scalars and f"({name})" in title, title  # it has values, and the title names it
        assert [t for t in scalars if re.search(tag, t)] == [name]  # the regex picks exactly that series
    assert {t.strip("^$") for tags in charts.values() for t in tags} >= {
        "val/accuracy",
        "test/accuracy",
        "train/cost",
        "val/cost",
        "test/cost",
    }


def test_hparams_with_best_accuracies(shared_run):
    events, _, _ = shared_run
    content = events.PluginTagToContent("hparams")
    start = plugin_data_pb2.HParamsPluginData.FromString(content["_hparams_/session_start_info"]).session_start_info
    assert start.hparams["sizes"].string_value == "784-30-10"
    assert start.hparams["eta"].number_value == 3.0
    assert start.hparams["m"].number_value == 10
    assert set(start.hparams) == {"sizes", "eta", "m", "seed"}  # few columns: the metrics fit on the screen
    assert start.hparams["seed"].number_value == 1
    experiment = plugin_data_pb2.HParamsPluginData.FromString(content["_hparams_/experiment"]).experiment
    metrics = {m.name.tag for m in experiment.metric_infos}
    assert metrics == {"val/best_accuracy", "test/best_accuracy"}
    for split in ("val", "test"):  # the HParams table shows the last point of these: the best epoch's accuracy
        best = events.Scalars(f"{split}/best_accuracy")
        accuracy = [e.value for e in events.Scalars(f"{split}/accuracy")]
        assert {e.step for e in best} == {0, 1}  # a curve, one point an epoch, not a single-point chart
        assert best[0].value == pytest.approx(accuracy[0])
        assert best[-1].step == 1 and best[-1].value == pytest.approx(max(accuracy))
    for tag in events.Tags()["scalars"]:  # no single-point charts in the Scalars tab
        assert len({e.step for e in events.Scalars(tag)}) == 2, tag


def test_images_and_histograms(shared_run):
    events, _, run = shared_run
    tags = events.Tags()
    assert set(tags["images"]) == IMAGES
    assert set(tags["histograms"]) >= HISTOGRAMS
    for tag in IMAGES:  # the last epoch only: the heavy pictures are drawn every 5 epochs and at the end
        assert [e.step for e in events.Images(tag)] == [1], tag
    mistakes = events.Images("test/mistakes (true as predicted)")[-1]
    assert (mistakes.width, mistakes.height) == (5 * 88, 3 * 108)  # 15 mistakes, 5 a row, 3x enlarged
    confusion = events.Images("test/confusion_matrix")[-1]
    assert (confusion.width, confusion.height) == (440, 290)
    neurons = events.Images(WB + "first layer's incoming weights")[-1]
    assert (neurons.width, neurons.height) == (6 * 88, 5 * 108)  # 30 hidden neurons, 6 a row, 3x enlarged
    weights = events.Histograms(WB + "hidden1 weights")
    assert [h.step for h in weights] == [0, 1] and weights[-1].histogram_value.num == 784 * 30
    outputs = events.Histograms("val/output_activations")[-1].histogram_value
    assert outputs.num == 10_000 * 10 and 0 <= outputs.min <= outputs.max <= 1
    # the confusion matrix of the saved network: every test digit once, the right ones on the diagonal
    from nndigits.learn.book import BookNetwork
    from nndigits.learn.mnist import load_split

    model = BookNetwork.load_from_checkpoint(run / "checkpoints" / "last.ckpt", map_location="cpu")
    x, labels = load_split(train=False)
    with torch.no_grad():
        counts = dashboards.confusion_matrix(labels, model(x).argmax(dim=1))
    assert counts.sum() == 10_000
    assert counts.trace() / 10_000 == pytest.approx(events.Scalars("test/accuracy")[-1].value, abs=1e-6)


@pytest.mark.slow
def test_no_images_leaves_out_images_and_histograms(tmp_path):
    assert main(["--epochs", "1", "--logdir", str(tmp_path), "--no-progress", "--no-images"]) == 0
    events = _read(tmp_path)
    tags = events.Tags()
    assert tags["images"] == [] and tags["histograms"] == []
    assert {"train/lr", "test/accuracy", "test/best_accuracy"} <= set(tags["scalars"])
    assert "custom_scalars__config__" in tags["tensors"]
    assert "_hparams_/session_start_info" in events.PluginTagToContent("hparams")


def test_confusion_matrix_by_hand():
    labels = torch.tensor([0, 0, 1, 2, 2, 2])
    predicted = torch.tensor([0, 1, 1, 2, 0, 2])
    expected = torch.tensor([[1, 1, 0], [0, 1, 0], [1, 0, 2]])
    assert torch.equal(dashboards.confusion_matrix(labels, predicted, classes=3), expected)


def test_pictures():
    x = torch.zeros(5, 784)
    x[:, 0] = 1.0
    labels, predicted = torch.tensor([1, 2, 3, 4, 5]), torch.tensor([1, 7, 3, 9, 5])
    grid = dashboards.mistakes_image(x, labels, predicted)  # two mistakes, grey, in one row
    assert grid.shape == (108, 2 * 88) and grid.dtype == np.uint8
    assert grid[22, 2] == grid[24, 4] == 255 and grid[22, 5] == 0  # the lit pixel, enlarged 3x, then black
    assert grid[:22].min() == 0 and grid[:22].max() == 255  # a caption is written above it
    weights = dashboards.weights_image(torch.linspace(-1, 1, 784).repeat(3, 1), ["a", "b", "c"])
    assert weights.shape == (108, 3 * 88, 3)
    assert tuple(weights[22, 2]) == (0, 0, 255) and tuple(weights[-3, -3]) == (255, 0, 0)  # blue -1, red +1
    table = dashboards.confusion_image(torch.eye(10, dtype=torch.long) * 7)
    assert table.shape == (290, 440, 3)
    green, red = table[26 + 24 + 12, 40 + 3], table[26 + 24 + 12, 80 + 3]  # cells (0, 0): 7 right; (0, 1): none
    assert tuple(green) == (55, 255, 55) and tuple(red) == (255, 255, 255)


def test_without_tensorboard_it_does_nothing():
    callback = dashboards.Dashboards()
    trainer = SimpleNamespace(loggers=[], sanity_checking=False, current_epoch=0, max_epochs=1)
    callback.on_fit_start(trainer, torch.nn.Linear(784, 10))
    callback.on_train_epoch_end(trainer, torch.nn.Linear(784, 10))
    callback.on_train_end(trainer, torch.nn.Linear(784, 10))
    assert callback.logger is None and callback._hook is None
