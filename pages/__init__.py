"""The app's screens (one file each, listed by app.py) and their shared helpers (_shared)."""
