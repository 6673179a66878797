"""vizkit's app: a router over the pages that visualizer plugins register."""
import streamlit as st

from vizkit.app.coldstart import banner
from vizkit.app.router import navigation

st.set_page_config(page_title="vizkit", page_icon="🔎", layout="wide")
page = navigation()
banner()  # on a cold start (no store yet): fills it in the background, with progress
page.run()
