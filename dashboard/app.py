"""Streamlit entry point: `chat-analytics dashboard` (or `make dashboard`) runs this script."""

from dashboard.page import render

render()
