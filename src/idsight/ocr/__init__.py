"""The OCR pipeline: localisation, template classification, field detection, recognition, cleanup."""
