"""Debian's chromium, launched the same way by every tool here that drives a browser (the browser
tests, the benches, the README's screenshots): never a downloaded browser, nothing running in the
background that could reach the network."""

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
