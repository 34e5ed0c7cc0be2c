"""LivSeg science core: I/O, synthetic phantoms, methods, training, inference, metrics,
statistics, reports and rendering. Pure functions on numpy arrays and files; imports
neither streamlit nor the database layer."""

__version__ = "0.1.0"
