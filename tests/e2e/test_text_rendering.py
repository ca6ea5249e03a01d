"""``esc`` in Streamlit's own Markdown renderer: every sample reads exactly as typed.

``tests/e2e/esc_gallery.py`` shows each sample of ``text_samples.py`` through ``esc``/``md``
in a Markdown body, a caption, an alert and a button label. The browser reads each one back:
its text (joining invisible word joiners aside) is the sample, and nothing of it became a link,
an image, emphasis, code, a heading, a list, a table, maths, an emoji or a coloured directive.
"""

from __future__ import annotations

import http.client
import os
import subprocess
import sys
import time

import pytest

from tests.e2e.conftest import ROOT, free_port
from tests.e2e.text_samples import SAMPLES

# Elements that would mean Markdown acted on the text.
MARKUP = "a, img, strong, em, del, code, pre, h1, h2, h3, h4, h5, h6, ul, ol, li, blockquote, table, hr, .katex, span[class*=color], [data-testid=stMarkdownBadge]"


@pytest.fixture(scope="module")
def gallery(tmp_path_factory):
    port = free_port()
    log = open(tmp_path_factory.mktemp("gallery") / "server.log", "w")
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "streamlit",
            "run",
            str(ROOT / "tests" / "e2e" / "esc_gallery.py"),
            "--server.port",
            str(port),
            "--server.headless",
            "true",
            "--browser.gatherUsageStats",
            "false",
        ],
        cwd=ROOT,
        env=dict(os.environ, PYTHONPATH=str(ROOT)),
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    deadline = time.time() + 60
    while time.time() < deadline:
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            conn.request("GET", "/_stcore/health")
            if conn.getresponse().status == 200:
                break
        except OSError:
            time.sleep(0.2)
    else:
        proc.kill()
        pytest.fail("the gallery did not start")
    yield f"http://127.0.0.1:{port}"
    proc.terminate()
    proc.wait(timeout=30)


def read(page, selector: str) -> dict:
    return page.eval_on_selector(
        selector,
        """(el, markup) => {
          const body = el.querySelector('[data-testid=stMarkdownContainer]') || el;
          const found = Array.from(body.querySelectorAll(markup)).map(e => e.outerHTML.slice(0, 120));
          return {text: body.innerText.replaceAll('\\u2060', ''), markup: found};
        }""",
        MARKUP,
    )


def normal(text: str) -> str:
    """What a reader sees: lines without the spaces at their ends."""
    return "\n".join(line.strip() for line in text.strip().splitlines())


def test_every_sample_reads_as_typed_wherever_it_is_shown(gallery, page):
    page.goto(gallery)
    page.locator(f".st-key-markdown-{len(SAMPLES) - 1}").wait_for(timeout=60_000)
    page.locator(f".st-key-button-{len(SAMPLES) - 1}").wait_for(timeout=60_000)
    problems = []
    for i, sample in enumerate(SAMPLES):
        expected = normal(sample)
        for where, selector, want in (
            ("markdown", f".st-key-markdown-{i}", expected),
            ("caption", f".st-key-caption-{i}", normal("Said: " + sample)),
            ("error", f".st-key-error-{i} [data-testid=stAlertContentError]", expected),
            ("button", f".st-key-button-{i} button", expected),
        ):
            got = read(page, selector)
            if normal(got["text"]) != want or got["markup"]:
                problems.append((i, where, sample, got))
    assert problems == [], "\n".join(
        f"sample {i} in {where}: {sample!r} -> {got}" for i, where, sample, got in problems
    )
