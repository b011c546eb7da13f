"""The web application: collector, REST API and data hub, one FastAPI app."""
