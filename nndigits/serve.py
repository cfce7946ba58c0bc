"""``python -m nndigits.serve``: the chapter in the browser -- draw a digit, look inside the network, train it.

Starts the local web app (``nndigits.app``) with uvicorn and prints its URL.
Flags are parsed before torch or FastAPI is imported, so ``--help`` and a bad
flag answer at once.  It binds 127.0.0.1 unless told otherwise: the app trains
networks and reads files on request, and is meant for the person at the
machine.  Errors are one line: a bad flag exits 2; a port in use, an address
that cannot be bound or a checkpoint that cannot be read exit 1.

``--export DIR`` serves nothing: it writes the chapter as a static site into DIR (``app/export.py``) --
the same page, computing in the browser -- for any static host, and exits (1, with one line, on bad input).
"""

from __future__ import annotations

import contextlib
import socket
import sys

PROG = "python -m nndigits.serve"
LOCAL = ("127.0.0.1", "localhost", "::1")


def build_parser():
    from .chapter import DEFAULT_LOGDIR
    from .cli.flags import Parser, positive

    p = Parser(
        prog=PROG,
        description="Serve the chapter in the browser: draw digits and see the network read them (with its "
        "hidden layer), train the book's network from the page and watch it learn, play with perceptrons.",
    )
    p.add_argument(
        "--checkpoint", metavar="CKPT", default=None, help="network to read digits with (default: newest under logdir)"
    )
    p.add_argument(
        "--logdir",
        default=DEFAULT_LOGDIR,
        help=f"where checkpoints are listed and runs write (default: {DEFAULT_LOGDIR}/)",
    )
    p.add_argument("--data-dir", default=None, help="where MNIST is, for training (default: the shared cache)")
    p.add_argument(
        "--export",
        metavar="DIR",
        default=None,
        help="write the app as a static site into DIR (new or empty) instead of serving: everything computed in "
        "the page, MNIST included; serve it with any static server (python -m http.server -d DIR)",
    )
    p.add_argument("--host", default="127.0.0.1", help="address to bind (default: 127.0.0.1, this machine only)")
    p.add_argument(
        "--port", type=positive(int, "--port", 0, maximum=65535), default=8000, help="port (default 8000; 0: any)"
    )
    return p


def bind(host: str, port: int) -> socket.socket:
    """A listening socket on (host, port); ``OSError`` with a readable message if it cannot be had."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except socket.gaierror as error:
        raise OSError(f"cannot use host {host!r}: {error.strerror}") from None
    family, kind, proto, _, address = infos[0]
    sock = socket.socket(family, kind, proto)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind(address)
    except OSError as error:
        sock.close()
        if error.errno == 98 or "in use" in str(error).lower():
            raise OSError(f"port {port} on {host} is in use (pick another with --port)") from None
        raise OSError(f"cannot listen on {host}:{port}: {error.strerror or error}") from None
    sock.listen(128)
    return sock


def export(args) -> int:
    from .app.export import ExportError, export_site
    from .cli.errors import fail

    try:
        site = export_site(args.export, args.checkpoint, logdir=args.logdir, data_dir=args.data_dir)
    except ExportError as error:
        fail(PROG, error)
        return 1
    size = sum(p.stat().st_size for p in site.rglob("*") if p.is_file())
    print(
        f"nndigits: wrote the static site to {args.export} ({size / 1e6:.1f} MB); serve it with "
        f"python -m http.server -d {args.export}",
        flush=True,
    )
    return 0


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    from .cli.errors import fail

    if args.export is not None:
        return export(args)

    try:
        sock = bind(args.host, args.port)
    except OSError as error:
        fail(PROG, error)
        return 1
    if args.host not in LOCAL:
        print(
            f"{PROG}: warning: serving on {args.host}, reachable from other machines; the app can train and "
            "read files on request",
            file=sys.stderr,
        )
    import uvicorn

    from .learn.checkpoints import CheckpointError
    from .learn.run import quiet_lightning

    quiet_lightning()
    from .app.api import create_app

    try:
        app = create_app(args.logdir, args.checkpoint, data_dir=args.data_dir)
    except CheckpointError as error:
        sock.close()
        fail(PROG, error)
        return 1
    host, port = sock.getsockname()[:2]
    shown = f"[{host}]" if ":" in host else host
    print(f"nndigits: serving the chapter on http://{shown}:{port}/  (Ctrl-C to stop)", flush=True)
    config = uvicorn.Config(app, log_level="warning", access_log=False, timeout_graceful_shutdown=1)
    with contextlib.suppress(KeyboardInterrupt):
        uvicorn.Server(config).run(sockets=[sock])
    return 0


if __name__ == "__main__":
    sys.exit(main())
