#!/usr/bin/env python3
"""Turn a GGUF model file into a Hugging Face folder (weights de-quantized to bfloat16, config.json,
tokenizer), for servers that cannot read GGUF, such as vLLM on a CPU.

    python scripts/gguf_to_hf.py MODEL.gguf OUT_FOLDER

Needs torch, transformers, gguf, accelerate and safetensors in the Python that runs it. Nothing is fetched.
"""

import json
import os
import sys


def convert(gguf: str, out: str) -> None:
    import torch
    from safetensors.torch import save_file
    from transformers import AutoModelForCausalLM, AutoTokenizer

    folder, name = os.path.split(os.path.abspath(gguf))
    model = AutoModelForCausalLM.from_pretrained(folder, gguf_file=name, dtype=torch.bfloat16)
    # save_pretrained refuses models loaded from GGUF, so the weights are written directly.
    weights = {k: v.detach().to(torch.bfloat16).contiguous().clone() for k, v in model.state_dict().items()}
    os.makedirs(out, exist_ok=True)
    save_file(weights, os.path.join(out, "model.safetensors"), metadata={"format": "pt"})
    config = model.config.to_dict()
    config.pop("quantization_config", None)
    config["architectures"] = [type(model).__name__]
    config["torch_dtype"] = config["dtype"] = "bfloat16"
    with open(os.path.join(out, "config.json"), "w") as handle:
        json.dump(config, handle, indent=2)
    AutoTokenizer.from_pretrained(folder, gguf_file=name).save_pretrained(out)


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    convert(sys.argv[1], sys.argv[2])
