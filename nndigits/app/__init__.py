"""The chapter in the browser: a local web app that draws, reads, trains and explains the book's network.

``create_app`` (``api.py``) builds the FastAPI app that ``python -m nndigits.serve``
runs with uvicorn.  Everything it computes goes through the project's own code:
``nndigits.use.images`` preprocesses uploads and drawings, the SigmoidNetwork
reads them, ``nndigits.learn.run.train_run`` trains, and
``nndigits.studies.neurons`` evaluates the gates.  The page (``static/``) is
plain HTML, CSS and JavaScript with no build step and nothing fetched from the
internet.
"""
