"""The binding dashboard: Streamlit pages over the `binding` library (UI only).

Run it with `binding dashboard` (see `dashboard.launch.run_dashboard`) or
`streamlit run dashboard/streamlit_app.py` from the repository root.
"""
