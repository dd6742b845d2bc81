"""The Conversations tab as a web page (Streamlit) over the published serving snapshot.

`app.py` is the script Streamlit runs; `page.py` draws the page, `url_state.py` keeps the filters in
the URL, `charts.py` builds the charts and their CSV files. The numbers come from
`orchestration.conversations_tab` and every label from `orchestration.labels`.
"""
