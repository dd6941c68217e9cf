"""Image decoding and the face engines."""
