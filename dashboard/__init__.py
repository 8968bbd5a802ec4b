"""`reelhouse dashboard`: a Streamlit + Plotly web app over the gold Delta tables, read without a JVM."""
