"""The command toolkit: how every ``python -m nndigits.*`` command and experiment parses, fails and exits.

One place decides what a user sees when something goes wrong; each idea is one module here, imported by name
(``from nndigits.cli.flags import Parser``), so that a command imports only what it uses -- ``predict``
never reaches the modules that lead to torch:

- ``errors``: ``Failure`` (exit 1), ``UsageError`` (exit 2) and the one error line on stderr.
- ``flags``: ``Parser`` (a bad flag is one line and exit code 2; every flag's help shows its default),
  ``positive`` and the flag builders (``add_seed``, ``add_threads``, ...), bounded by ``chapter.py``'s bounds.
- ``command``: ``command(prog)``, the wrapper around a command's ``main`` (Ctrl-C, broken pipes, a closed
  stdout, exit codes), and ``exit_with``.
- ``folders``: ``check_writable`` and ``clean_stale`` (the temporary files, ``learn/atomic.py``'s names,
  that a killed run left).
- ``images``: ``for_each_image`` (one bad image is one line, the others go on), ``check_image_count``.
- ``checkpoint``: ``load_checkpoint_or_fail``, the NumPy network ``predict`` and ``read`` answer with.
- ``data``: ``--data-dir`` and ``mnist_or_fail``.

Exit codes: 0 done, 1 failure (bad file, no data, full disk), 2 usage (a flag), 130 interrupted.
These modules import only the standard library at the top, so ``--help`` is instant.
"""
