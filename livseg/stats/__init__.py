"""Statistics for reader studies of segmentation methods (pure functions on DataFrames)."""
