"""Quantization: recipes and engines, calibration methods, equalization, bias correction, keep-float rules, the engine/calibration choice, `--quant auto`, sensitivity and the debugger."""
