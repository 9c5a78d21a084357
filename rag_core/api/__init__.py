"""The HTTP API's pieces: schemas, dependencies, error rendering and the routes.

``rag_core.app.create_app`` puts them together; ``uvicorn rag_core.app:app`` serves it.
"""
