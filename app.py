"""Parley: `streamlit run app.py` starts everything in one process.

The lifespan opens the database (migrating and seeding it), starts the
background workers, and stops them on shutdown. Webhook, media, sign-in
cookie and health routes are served beside the UI; ``ui.py`` is the page
script.
"""

from __future__ import annotations

import gc
import logging
import os
import sys
from contextlib import asynccontextmanager
from pathlib import Path

import streamlit as st
from streamlit.runtime.pages_manager import PagesManager

from core import runtime
from core.errors import ParleyError
from generator.demo import create_demo_workspace
from routes import ROUTES

logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")


# A fresh install opens on the demo workspace (PARLEY_DEMO=0: an empty one); its builder is
# not part of core, so it is handed over here.
runtime.use_demo_builder(create_demo_workspace)


@asynccontextmanager
async def lifespan(app):
    try:
        rt = runtime.start(workers=True)
    except ParleyError as exc:
        # One sentence, no traceback: e.g. another Parley holds the database. Exit here:
        # raised through the server's lifespan, SystemExit is logged with a traceback.
        # Nothing is open yet (the store refused to open), so there is nothing to close.
        print(f"Parley cannot start: {exc}", file=sys.stderr, flush=True)
        sys.stdout.flush()
        os._exit(1)
    logging.getLogger("parley").info("Parley is ready (database %s)", rt.config.db_path)
    # Modules, classes and the runtime live as long as the process: moved out of the collector's
    # sight, a full collection walks only what was made since, instead of the whole start-up heap
    # (50-140 ms holding the GIL, stalling every webhook and page meanwhile).
    gc.collect()
    gc.freeze()
    try:
        yield {"runtime": rt}
    finally:
        runtime.stop()


# Our page scripts live in pages/ beside ui.py, which Streamlit takes for an
# old-style multipage folder until st.navigation first runs: a first visit to
# /contacts after a start would show every file in pages/ and no sign-in.
# Parley's pages are only ever chosen by ui.py's st.navigation.
PagesManager.uses_pages_directory = False

app = st.App(str(Path(__file__).resolve().parent / "ui.py"), lifespan=lifespan, routes=ROUTES)
