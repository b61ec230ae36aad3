"""gptedu: build GPT-1, GPT-2 and GPT-3 from scratch.

Start every notebook with `gptedu.setup()`; the modules are one idea each:
config, model, attention, tokenizers, data, train, generate, checkpoints, device.
"""
from .session import setup

__all__ = ["setup"]
__version__ = "0.1.0"
