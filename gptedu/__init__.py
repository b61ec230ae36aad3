"""gptedu: build GPT-1, GPT-2 and GPT-3 from scratch.

Start every notebook with `gptedu.setup()`; the modules are one idea each:
config, attention, model, pretrained, tokenizers, data, train, generate,
checkpoints, device.
"""
from .config import GPTConfig, preset
from .model import GPT, count_params
from .session import setup

__all__ = ["GPT", "GPTConfig", "count_params", "preset", "setup"]
__version__ = "0.1.0"
from .family import load_family  # the course model family (data/family/), see gptedu.family
__all__ += ["load_family"]
