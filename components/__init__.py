"""Custom Streamlit components of LivSeg (UI layer: may import streamlit)."""
