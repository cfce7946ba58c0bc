"""TensorBoard dashboards that show what the network learned, not just that a number went up.

``Dashboards`` is a Lightning callback.  Given a ``TensorBoardLogger`` it adds,
with the epoch as the step:

* scalars: the learning rate ``train/lr`` and the best accuracy so far,
  ``val/best_accuracy`` and ``test/best_accuracy`` (the costs and accuracies come
  from ``book.BookNetwork``), and a custom-scalars layout with one chart per
  quantity, named after it, each run in its own colour ("Custom Scalars" tab);
* hyperparameters (sizes, eta, m, seed) with the best validation and test
  accuracy as metrics, so the HParams tab compares runs, e.g. an eta sweep (the
  metrics are the last points of the best-so-far curves, so no single-point
  charts appear among the scalars);
* histograms, every epoch: weights and biases of each layer (under "weights and
  biases/", which sorts after the scalars' groups), and the output activations
  on the validation set;
* images, after every ``every`` epochs (default 5) and the last one: test digits
  the network gets wrong ("7 as 2": a 7 classified as a 2), the incoming weights
  of each neuron of the first layer as a 28x28 picture (red positive, blue
  negative), and the test set's confusion matrix -- drawn large, with large
  captions, because TensorBoard shrinks each image to a card about 330 px wide.

The book's epoch is short, so logging must be cheap
(a small fraction of an epoch).  Nothing here runs the network again: the outputs of
the validation pass Lightning already makes are kept by a forward hook, and the
images are drawn with PIL, not matplotlib.  ``images=False`` (``--no-images``)
keeps only the scalars and hyperparameters.  ``seconds`` is the time spent here.
"""

from __future__ import annotations

import functools
import io
import math
import time

import numpy as np
import torch
from PIL import Image, ImageDraw, ImageFont
from pytorch_lightning.loggers import TensorBoardLogger
from tensorboard.compat.proto.summary_pb2 import Summary

from .adapter import file_writer
from .outputs import KeepsOutputs

# One quantity per chart: TensorBoard colours a chart's series by run and tells the tags of one run
# apart by marker shape only, so a chart with one tag is one line per run, named by the title.
LAYOUT = {
    "accuracy (one line per run)": {
        "validation accuracy (val/accuracy)": ["Multiline", ["^val/accuracy$"]],
        "test accuracy (test/accuracy)": ["Multiline", ["^test/accuracy$"]],
        "best validation accuracy so far (val/best_accuracy)": ["Multiline", ["^val/best_accuracy$"]],
    },
    "cost C = |y - a|^2 / 2, mean over the images (one line per run)": {
        "training cost (train/cost)": ["Multiline", ["^train/cost$"]],
        "validation cost (val/cost)": ["Multiline", ["^val/cost$"]],
        "test cost (test/cost)": ["Multiline", ["^test/cost$"]],
    },
    "learning rate": {"eta (train/lr)": ["Multiline", ["^train/lr$"]]},
}
SPLITS = {0: "val", 1: "test"}  # the order of BookNetwork's validation dataloaders
# TensorBoard shrinks each image to its card: about 330 px wide in the Images tab and 215 px tall in Time
# Series.  So the pictures are drawn about 440 x 300 px, with text large enough to read at ~3/4 of its size.
CAPTION = 18  # caption font size, px
FONT = ImageFont.load_default(size=CAPTION)
SMALL = ImageFont.load_default(size=14)


def confusion_matrix(labels: torch.Tensor, predicted: torch.Tensor, classes: int = 10) -> torch.Tensor:
    """``counts[i, j]``: how many digits ``i`` the network called ``j`` (rows truth, columns prediction)."""
    from torchmetrics.functional.classification import multiclass_confusion_matrix

    return multiclass_confusion_matrix(predicted.long(), labels.long(), num_classes=classes)


@functools.lru_cache(maxsize=4096)
def caption(text: str, width: int, height: int = CAPTION + 4, mode: str = "RGB") -> np.ndarray:
    """``text`` drawn on a white strip; cached, since the same few captions recur every time."""
    strip = Image.new(mode, (width, height), "white")
    ImageDraw.Draw(strip).text((0, 1), text, fill="black", font=FONT)
    return np.asarray(strip)


def tiles(pictures: np.ndarray, captions: list[str], columns: int = 5, scale: int = 3) -> np.ndarray:
    """Pictures (n, h, w) grey or (n, h, w, 3) RGB, uint8, in a grid, each enlarged ``scale`` times, captioned.

    5 columns of 28 x 3 pixels are 440 px wide: at TensorBoard's card width a caption is still ~13 px tall.
    """
    n, h, w, *channels = pictures.shape
    top, pad = CAPTION + 4, 2  # caption strip above each picture, white margin around it
    rows, columns = max(1, -(-n // columns)), max(1, min(n, columns))
    cells = np.full((rows * columns, top + h * scale + pad, w * scale + 2 * pad, *channels), 255, np.uint8)
    cells[:n, top : top + h * scale, pad : pad + w * scale] = pictures.repeat(scale, axis=1).repeat(scale, axis=2)
    for cell, text in zip(cells, captions):
        cell[:top, pad : pad + w * scale] = caption(text, w * scale, top, "RGB" if channels else "L")
    cell_h, cell_w = cells.shape[1:3]
    grid = cells.reshape(rows, columns, cell_h, cell_w, *channels).swapaxes(1, 2)
    return grid.reshape(rows * cell_h, columns * cell_w, *channels)


def mistakes_image(x: torch.Tensor, labels: torch.Tensor, predicted: torch.Tensor, limit: int = 15) -> np.ndarray:
    """The first ``limit`` misclassified digits, white on black as MNIST draws them, captioned "true as predicted"."""
    wrong = (predicted != labels).nonzero().flatten()[:limit]
    digits = (x[wrong].reshape(-1, 28, 28) * 255).to(torch.uint8).cpu().numpy()
    captions = [f"{t} as {p}" for t, p in zip(labels[wrong].tolist(), predicted[wrong].tolist())]
    return tiles(digits, captions)


def weights_image(weight: torch.Tensor, names: list[str], limit: int = 100) -> np.ndarray:
    """Each row of ``weight`` (n, 784) as a 28x28 picture: red positive, blue negative, white zero.

    Each neuron is scaled by its own largest |w|, so the pattern shows even
    where the weights of two neurons differ in size.
    """
    t = weight[:limit].detach().float().cpu()
    w = (t / t.abs().amax(dim=1, keepdim=True).clamp_min(1e-12)).reshape(-1, 28, 28, 1).numpy()
    rgb = 255 - np.concatenate([np.clip(-w, 0, 1), np.abs(w), np.clip(w, 0, 1)], axis=3) * 255
    return tiles(rgb.astype(np.uint8), names[:limit], columns=6, scale=3)  # 30 neurons: 528 x 540 px


def confusion_image(counts: torch.Tensor, cell: int = 40, row: int = 24) -> np.ndarray:
    """The confusion matrix as a table of counts: green diagonal (right), red off-diagonal (wrong), darker = more.

    Rows are the true digit, columns the network's answer; a title line says so.  Eleven cells of 40 x 24
    px: 440 x 290 px, shown at ~3/4 of that size, where the 14 px counts are still ~10 px tall.
    """
    counts = counts.cpu()
    k = len(counts)
    title = CAPTION + 8
    canvas = Image.new("RGB", ((k + 1) * cell, title + (k + 1) * row), "white")
    draw = ImageDraw.Draw(canvas)
    draw.text((4, 2), "row: true digit, column: network's answer", fill="black", font=FONT)
    off = counts - torch.diag(torch.diag(counts))
    peak = {True: max(1, int(torch.diag(counts).max())), False: max(1, int(off.max()))}
    for d in range(k):
        draw.text(
            ((d + 1.5) * cell, title + row / 2), str(d), font=FONT, anchor="mm", fill="black"
        )  # the answer, on top
        draw.text(
            (cell / 2, title + (d + 1.5) * row), str(d), font=FONT, anchor="mm", fill="black"
        )  # the truth, on the left
    for i in range(k):
        for j in range(k):
            n = int(counts[i, j])
            shade = int(200 * n / peak[i == j])
            colour = (255 - shade, 255, 255 - shade) if i == j else (255, 255 - shade, 255 - shade)
            box = ((j + 1) * cell, title + (i + 1) * row, (j + 2) * cell - 1, title + (i + 2) * row - 1)
            draw.rectangle(box, fill=colour if n else "white", outline=(200, 200, 200))
            if n:
                draw.text(((j + 1.5) * cell, title + (i + 1.5) * row), str(n), font=SMALL, anchor="mm", fill="black")
    return np.asarray(canvas)


def add_png(writer, tag: str, picture: np.ndarray, step: int) -> None:
    """``writer.add_image``, but a grey picture stays one channel and PNG compression is light: 3-5x faster."""
    buffer = io.BytesIO()
    Image.fromarray(picture).save(buffer, format="PNG", compress_level=1)
    image = Summary.Image(
        height=picture.shape[0],
        width=picture.shape[1],
        colorspace=1 if picture.ndim == 2 else 3,
        encoded_image_string=buffer.getvalue(),
    )
    file_writer(writer).add_summary(Summary(value=[Summary.Value(tag=tag, image=image)]), step)


def add_histogram(writer, tag: str, values: torch.Tensor, step: int, bins: int = 64) -> None:
    """``writer.add_histogram`` computed in torch (numpy's version costs ~10x more here).

    ``bins`` at most, fewer for a few values (30 biases): about sqrt(n), so no bin is a lone spike.
    """
    v = values.detach().flatten().float()
    lo, hi, bins = v.min().item(), v.max().item(), min(bins, 1 + math.isqrt(v.numel()))
    if hi > lo:
        counts, limits = torch.histc(v, bins, lo, hi).tolist(), torch.linspace(lo, hi, bins + 1)[1:].tolist()
    else:
        counts, limits = [float(len(v))], [hi]
    writer.add_histogram_raw(tag, lo, hi, len(v), v.sum().item(), v.square().sum().item(), limits, counts, step)


def _layers(module: torch.nn.Module) -> list[torch.nn.Linear]:
    return [m for m in module.modules() if isinstance(m, torch.nn.Linear)]


def _joined(batches: list[tuple]) -> tuple:
    """(x, labels, outputs) of a whole split from its batches (no copy when, as usual, there is one batch)."""
    if len(batches) == 1:
        return batches[0]
    return tuple(None if parts[0] is None else torch.cat(parts) for parts in zip(*batches))


class Dashboards(KeepsOutputs):
    """Log dashboards to the trainer's TensorBoardLogger; without one, do nothing.

    ``images``: histograms and images too (else scalars and hyperparameters only).
    ``every``: draw the images after every ``every`` epochs (epochs 4, 9, ... for 5) and after the last.
    """

    def __init__(self, images: bool = True, every: int = 5):
        if every < 1:
            raise ValueError(f"every must be at least 1, got {every}")
        self.images, self.every = images, every
        self.logger: TensorBoardLogger | None = None
        self.seconds = 0.0  # time spent logging, to keep an eye on its cost
        self._outputs: dict[str, list] = {}

    # --- set up: find the logger, write the chart layout, keep the validation outputs ---
    def on_fit_start(self, trainer, pl_module) -> None:
        self.logger = next((lg for lg in trainer.loggers if isinstance(lg, TensorBoardLogger)), None)
        if self.logger is None:
            return
        self.logger.experiment.add_custom_scalars(LAYOUT)
        if self.images:  # the network's outputs on each validation batch, without a second forward pass
            self.watch(pl_module)

    def on_validation_epoch_start(self, trainer, pl_module) -> None:
        self._outputs = {}

    def on_validation_batch_end(self, trainer, pl_module, outputs, batch, batch_idx, dataloader_idx=0) -> None:
        output = self.take_output()
        if self.watching() and output is not None and not trainer.sanity_checking:
            x, labels = batch
            split = SPLITS.get(dataloader_idx, str(dataloader_idx))
            keep_x = split == "test" and self._drawing(trainer)  # the images (10,000 x 784) only when drawn
            self._outputs.setdefault(split, []).append((x if keep_x else None, labels, output))

    def _drawing(self, trainer) -> bool:
        """Whether this epoch draws the images: after every ``every`` epochs, and after the last."""
        epoch = trainer.current_epoch
        return (epoch + 1) % self.every == 0 or epoch == trainer.max_epochs - 1

    # --- every epoch, after validation ---------------------------------------------
    def on_train_epoch_end(self, trainer, pl_module) -> None:
        if self.logger is None or trainer.sanity_checking:
            return
        start, epoch = time.perf_counter(), trainer.current_epoch
        writer = self.logger.experiment
        lr = pl_module.lr if hasattr(pl_module, "lr") else trainer.optimizers[0].param_groups[0]["lr"]  # eta
        writer.add_scalar("train/lr", float(lr), epoch)
        history = getattr(pl_module, "history", [])
        for split in ("val", "test"):  # best so far: its last point is the HParams tab's metric
            if history and f"{split}/accuracy" in history[-1]:
                writer.add_scalar(f"{split}/best_accuracy", max(h[f"{split}/accuracy"] for h in history), epoch)
        if self.images:
            self._histograms(writer, pl_module, epoch)
            if self._drawing(trainer):
                self._images(writer, pl_module, epoch)
        self._outputs = {}
        self.seconds += time.perf_counter() - start

    def _histograms(self, writer, pl_module, epoch: int) -> None:
        layers = _layers(pl_module)
        for number, layer in enumerate(layers, 1):
            name = "output" if number == len(layers) else f"hidden{number}"
            add_histogram(writer, f"weights and biases/{name} weights", layer.weight, epoch)
            add_histogram(writer, f"weights and biases/{name} biases", layer.bias, epoch)
        if "val" in self._outputs:
            add_histogram(writer, "val/output_activations", _joined(self._outputs["val"])[2], epoch)

    def _images(self, writer, pl_module, epoch: int) -> None:
        layers = _layers(pl_module)
        first = layers[0]
        if first.in_features == 28 * 28:  # for [784, 10] these are the output neurons, one per digit
            names = [f"digit {j}" if len(layers) == 1 else f"h{j}" for j in range(first.out_features)]
            add_png(
                writer, "weights and biases/first layer's incoming weights", weights_image(first.weight, names), epoch
            )
        if "test" in self._outputs and self._outputs["test"][0][0] is not None:
            x, labels, a = _joined(self._outputs["test"])
            predicted = a.argmax(dim=1)
            add_png(writer, "test/mistakes (true as predicted)", mistakes_image(x, labels, predicted), epoch)
            add_png(
                writer, "test/confusion_matrix", confusion_image(confusion_matrix(labels, predicted, a.shape[1])), epoch
            )

    # --- at the end: the run's hyperparameters and how well it did, for the HParams tab ---
    def on_train_end(self, trainer, pl_module) -> None:
        history = getattr(pl_module, "history", [])
        if self.logger is None or not history:
            return
        hp = dict(getattr(pl_module, "hparams", {}))
        # Four columns, so that the two metrics still fit on a 1400 px screen (epochs and engine are in hparams.yaml)
        params = {"sizes": "-".join(map(str, hp.get("sizes", []))), "eta": hp.get("lr"), "m": hp.get("batch_size")}
        params["seed"] = hp.get("seed")
        metrics = {
            f"{split}/best_accuracy": max(h[f"{split}/accuracy"] for h in history)
            for split in ("val", "test")
            if f"{split}/accuracy" in history[0]
        }
        # the metrics are logged again at the last epoch, where the best-so-far curves already end with these values
        last = history[-1].get("epoch", trainer.current_epoch)
        self.logger.log_hyperparams({k: v for k, v in params.items() if v is not None}, metrics=metrics, step=last)
