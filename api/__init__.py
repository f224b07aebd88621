"""imputer REST service (FastAPI): ``uvicorn api.main:app``; see :mod:`api.main`."""
