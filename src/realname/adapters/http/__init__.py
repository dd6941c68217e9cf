"""FastAPI application, error mapping and pages."""
