"""The HTTP API and the page: ``create_app(logdir, checkpoint)`` returns the FastAPI app.

Routes (all JSON unless said): ``GET /`` the page; ``POST /api/predict`` an image
as the raw request body (the canvas's PNG or an uploaded file) -> the 28x28 the
network sees and its reading; ``GET /api/network`` the current network's
weight pictures; ``GET /api/networks`` and ``POST /api/networks/select``;
``POST /api/train``, ``POST /api/train/stop``, ``GET /api/train/events``
(server-sent events); ``GET /api/perceptrons`` and ``/api/perceptrons/sigmoid``.

The static site's files, at the URLs the export writes them to (app/export.py), so that the page's
in-page code works against both: ``GET /site.json`` (``{"mode": "live"}``), ``GET /network.json`` (the
current network, float64) and ``GET /data/<MNIST file>.gz`` (from the verified cache, gzipped once).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import threading
import time
from pathlib import Path

from fastapi import FastAPI, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, JSONResponse, Response, StreamingResponse
from fastapi.staticfiles import StaticFiles
from pydantic import BaseModel

from ..chapter import DEFAULT_LOGDIR, INPUTS, OUTPUTS
from ..core.checkpoints import CheckpointError
from ..core.machine import NetworkTooLarge, check_network_fits
from ..learn.mnist import SHA256
from ..use.image_files import ImageError
from . import gates
from .export import ExportError, gzipped_idx, network_json, verified_mnist
from .guard import OneLineErrors, invalid_request, problem
from .inside import look_inside, weight_pictures
from .networks import Networks, UnknownNetwork, checkpoint_id
from .settings import TrainSettings
from .training import RunInProgress, TrainingJob
from .uploads import MAX_UPLOAD_BYTES, digit_from_bytes

STATIC = Path(__file__).parent / "static"
NO_NETWORK = "no network yet: train one on the Learn tab (or start the server with --checkpoint)"


class Choice(BaseModel):
    id: str


async def read_capped(request: Request, cap: int = MAX_UPLOAD_BYTES) -> bytes | None:
    """The request body, or None if it is over ``cap`` bytes (checked before and while reading)."""
    length = request.headers.get("content-length")
    if length is not None and length.isdigit() and int(length) > cap:
        return None
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > cap:
            return None
        chunks.append(chunk)
    return b"".join(chunks)


def read_digit(net, data: bytes, name: str) -> tuple[dict, str]:
    """The API's answer for one image, and a Server-Timing header (preprocessing and network, in ms)."""
    start = time.perf_counter()
    x = digit_from_bytes(data, name)
    middle = time.perf_counter()
    reading = look_inside(net, x)
    end = time.perf_counter()
    timing = f"image;dur={1000 * (middle - start):.2f}, network;dur={1000 * (end - middle):.2f}"
    return {"image": x.tolist(), **reading}, timing


def create_app(logdir=DEFAULT_LOGDIR, checkpoint=None, data_dir=None) -> FastAPI:
    """The app for the checkpoints under ``logdir``; reads with ``checkpoint`` (or the newest there) if any."""
    networks = Networks(logdir, extra=checkpoint)
    if checkpoint is not None:
        networks.load(checkpoint)  # CheckpointError for the command to report
    else:
        listed = networks.listing()
        if listed:  # an unreadable one is still listed; the page says what is wrong when it is chosen
            with contextlib.suppress(CheckpointError):
                networks.select(listed[0]["id"])

    def new_network(net, path) -> str | None:
        ident = checkpoint_id(path) if path is not None else None
        networks.use(net, ident, networks.name_of(path.resolve()) if path is not None else "the run just trained")
        return ident

    job = TrainingJob(logdir, new_network, data_dir=data_dir)
    gzipped: dict[str, bytes] = {}
    verified: list[Path] = []  # MNIST's folder once its four files passed their SHA-256 (55 MB hashed once)
    gzip_lock = threading.Lock()

    def mnist_gz(name: str) -> bytes:
        with gzip_lock:  # gzipped once, on first request (a few seconds), then kept
            if name not in gzipped:
                if not verified:
                    verified.append(verified_mnist(data_dir))
                gzipped[name] = gzipped_idx(verified[0], name)
            return gzipped[name]

    app = FastAPI(title="nndigits", docs_url=None, redoc_url=None, openapi_url=None)
    app.state.networks, app.state.job = networks, job
    app.add_exception_handler(RequestValidationError, invalid_request)  # type: ignore[arg-type]
    app.add_middleware(OneLineErrors)
    app.mount("/static", StaticFiles(directory=STATIC), name="static")

    def describe() -> dict:
        net, ident, name = networks.snapshot()
        return {"id": ident, "name": name, "sizes": None if net is None else net.sizes} if net is not None else {}

    @app.get("/", include_in_schema=False)
    def page():
        return FileResponse(STATIC / "index.html")

    @app.get("/api/status")
    def status():
        return {
            "network": describe() or None,
            "training": job.running,
            "logdir": str(logdir),
            "max_upload_bytes": MAX_UPLOAD_BYTES,
        }

    @app.post("/api/predict")
    async def predict(request: Request, name: str = Query("upload", max_length=200)):
        data = await read_capped(request)
        if data is None:
            return problem(413, f"the file is over the upload limit of {MAX_UPLOAD_BYTES // 2**20} MiB")
        net, ident, _ = networks.snapshot()
        if net is None:
            return problem(409, NO_NETWORK)
        try:
            body, timing = await run_in_threadpool(read_digit, net, data, name)  # a big photo must not block the loop
        except ImageError as error:
            return problem(422, str(error), field="image")
        body["network"] = ident
        return JSONResponse(body, headers={"Server-Timing": timing})  # a plain dict: no jsonable_encoder pass

    @app.get("/api/network")
    def network():
        net, ident, name = networks.snapshot()
        if net is None:
            return problem(409, NO_NETWORK)
        return {"id": ident, "name": name, "sizes": net.sizes, "weights": weight_pictures(net)}

    @app.get("/api/networks")
    def listing():
        return {"networks": networks.listing(), "current": networks.snapshot()[1]}

    @app.post("/api/networks/select")
    def select(choice: Choice):
        if job.running:
            return problem(409, "a run is in progress; Draw switches to its network when it ends")
        try:
            networks.select(choice.id)
        except UnknownNetwork as error:
            return problem(404, str(error))
        except CheckpointError as error:
            return problem(422, str(error), field="id")
        return describe()

    @app.post("/api/train", status_code=202)
    def train(settings: TrainSettings):
        try:
            check_network_fits([INPUTS, *settings.hidden, OUTPUTS], settings.m)
        except NetworkTooLarge as error:
            return problem(422, f"hidden: {error}", field="hidden")
        try:
            job.start(settings.model_dump())
        except RunInProgress as error:
            return problem(409, str(error))
        return {"started": True, "settings": settings.model_dump()}

    @app.post("/api/train/stop")
    def stop():
        return {"stopping": job.stop()}

    @app.get("/api/train/events")
    async def events(request: Request, since: int = Query(0, ge=0)):
        async def stream():
            seen, sent, idle = job.events, since, 0.0
            while not await request.is_disconnected():
                if job.events is not seen:  # a new run began: send it from its start
                    seen, sent = job.events, 0
                fresh = seen[sent:]
                for event in fresh:
                    yield f"data: {json.dumps(event)}\n\n"
                sent += len(fresh)
                idle = 0.0 if fresh else idle + 0.1
                if idle >= 15:
                    idle = 0.0
                    yield ": keep-alive\n\n"
                await asyncio.sleep(0.1)

        return StreamingResponse(stream(), media_type="text/event-stream", headers={"Cache-Control": "no-store"})

    @app.get("/site.json")
    def site():
        return {"mode": "live", "max_upload_bytes": MAX_UPLOAD_BYTES}

    @app.get("/network.json")
    def network_as_json():
        net, ident, name = networks.snapshot()
        if net is None:
            return problem(409, NO_NETWORK)
        weights = [layer.weight.detach().double().numpy() for layer in net.layers]
        biases = [layer.bias.detach().double().numpy() for layer in net.layers]
        return JSONResponse(network_json(net.sizes, weights, biases, ident, name))

    @app.get("/data/{name}")
    async def mnist_file(name: str):
        if not name.endswith(".gz") or name[: -len(".gz")] not in SHA256:
            return problem(404, f"no MNIST file {name!r} (the four are {', '.join(f'{n}.gz' for n in SHA256)})")
        try:
            body = await run_in_threadpool(mnist_gz, name[: -len(".gz")])
        except ExportError as error:
            return problem(404, str(error))
        return Response(body, media_type="application/gzip", headers={"Cache-Control": "max-age=86400"})

    @app.get("/api/perceptrons")
    def perceptrons():
        return {"nand": gates.nand_table(), "half_adder": gates.half_adder_table()}

    @app.get("/api/perceptrons/sigmoid")
    def sigmoid(c: float = Query(5.0, ge=0, le=100, allow_inf_nan=False)):
        return gates.sigmoid_curve(c)

    return app
