"""A page that shows every sample of ``tests/e2e/test_text_rendering.py`` through ``esc``.

Run by that test with ``streamlit run``; each sample sits in keyed containers so the browser
can read what Streamlit's own Markdown renderer made of it.
"""

import streamlit as st

from pages.text import esc, md
from tests.e2e.text_samples import SAMPLES

for i, sample in enumerate(SAMPLES):
    with st.container(key=f"markdown-{i}"):
        st.markdown(esc(sample))
    with st.container(key=f"caption-{i}"):
        st.caption(md("Said: {sample}", sample=sample))
    with st.container(key=f"error-{i}"):
        st.error(esc(sample))
    st.button(esc(sample), key=f"button-{i}")
