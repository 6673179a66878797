"""Streamlit pages and the helpers they share. Pages query the store and draw."""
