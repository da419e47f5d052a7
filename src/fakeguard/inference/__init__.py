"""Inference on raw media: face extraction as preparation does it, an ensemble of detectors,
and per-file scores (`python -m fakeguard.predict`)."""
