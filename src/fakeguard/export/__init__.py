"""Exports of a trained detector: safetensors + sidecar, ONNX, and a gasbench model directory.

`python -m fakeguard.export ckpt_path=... format=<safetensors|onnx|gasbench> out=...`
"""
