"""The transformers backend on every device this machine has, with a tiny model built here from a config.

Nothing comes from a hub: the tokenizer is trained on a few lines, the model has random weights. The
CPU case runs everywhere the extra is installed; the CUDA cases (bf16, 4-bit, 8-bit) where torch sees a
GPU and, for quantization, bitsandbytes is installed.
"""

import importlib.util
import time

import pytest

from locoder.messages import Message
from locoder.models.transformers_backend import TransformersConfig, TransformersModel

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")
CUDA = torch.cuda.is_available()
BNB = importlib.util.find_spec("bitsandbytes") is not None

CHATML = (
    "{% if tools %}<|im_start|>system\nTools: {{ tools | tojson }}<|im_end|>\n{% endif %}"
    "{% for m in messages %}<|im_start|>{{ m.role }}\n{{ m.content }}<|im_end|>\n{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)
TOOLS = [{"type": "function", "function": {"name": "read_file", "description": "Read a file",
                                           "parameters": {"type": "object", "properties": {"path": {"type": "string"}}}}}]


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory):
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

    folder = tmp_path_factory.mktemp("tiny-qwen2")
    raw = Tokenizer(models.BPE(unk_token="<unk>"))
    raw.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    raw.decoder = decoders.ByteLevel()
    corpus = ['{"tool": "read_file", "arguments": {"path": "calc.py"}}', "def add(a, b):\n    return a + b",
              "Read the file calc.py and tell me what it does."] * 20
    raw.train_from_iterator(corpus, trainers.BpeTrainer(vocab_size=400, special_tokens=["<unk>", "<|im_start|>", "<|im_end|>"],
                                                        initial_alphabet=pre_tokenizers.ByteLevel.alphabet()))
    tokenizer = transformers.PreTrainedTokenizerFast(tokenizer_object=raw, unk_token="<unk>", eos_token="<|im_end|>",
                                                     pad_token="<|im_end|>")
    tokenizer.chat_template = CHATML
    tokenizer.save_pretrained(folder)
    config = transformers.Qwen2Config(vocab_size=len(tokenizer), hidden_size=128, intermediate_size=256,
                                      num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2,
                                      max_position_embeddings=2048, eos_token_id=tokenizer.eos_token_id)
    torch.manual_seed(0)
    transformers.Qwen2ForCausalLM(config).save_pretrained(folder)
    return str(folder)


CASES = [
    pytest.param("cpu", "float32", "none", id="cpu-float32"),
    pytest.param("cuda", "bfloat16", "none", id="cuda-bfloat16",
                 marks=pytest.mark.skipif(not CUDA, reason="no CUDA device")),
    pytest.param("cuda", "bfloat16", "4bit", id="cuda-4bit",
                 marks=pytest.mark.skipif(not (CUDA and BNB), reason="needs CUDA and bitsandbytes")),
    pytest.param("cuda", "float16", "8bit", id="cuda-8bit",
                 marks=pytest.mark.skipif(not (CUDA and BNB), reason="needs CUDA and bitsandbytes")),
]


@pytest.mark.parametrize("device,dtype,quantization", CASES)
def test_load_and_generate(tiny_model, device, dtype, quantization):
    start = time.monotonic()
    model = TransformersModel(TransformersConfig(model=tiny_model, device_map=device, torch_dtype=dtype,
                                                 quantization=quantization, max_new_tokens=24, temperature=0,
                                                 context_window=1024, stop=("<|im_end|>",)))
    loaded = time.monotonic() - start
    assert model.model.device.type == device
    if quantization == "none":
        assert next(model.model.parameters()).dtype == getattr(torch, dtype)
    else:
        kinds = {type(m).__name__ for m in model.model.modules()}
        assert ("Linear4bit" if quantization == "4bit" else "Linear8bitLt") in kinds
    reply = model.query([Message("system", "You are a coding agent."), Message("user", "Read calc.py")], tools=TOOLS)
    assert reply.usage.prompt_tokens > 10 and 0 < reply.usage.completion_tokens <= 24
    assert reply.finish_reason in ("stop", "length") and reply.first_token_seconds is not None
    print(f"\n{device}/{dtype}/{quantization}: load {loaded:.2f}s, {reply.usage.completion_tokens} tokens in "
          f"{reply.seconds:.2f}s, first token {reply.first_token_seconds:.3f}s")


def test_prompt_longer_than_the_context_is_refused(tiny_model):
    from locoder.exceptions import BackendError

    model = TransformersModel(TransformersConfig(model=tiny_model, device_map="cpu", torch_dtype="float32",
                                                 context_window=64))
    with pytest.raises(BackendError, match="fills the context window"):
        model.query([Message("user", "Read the file calc.py and tell me what it does. " * 20)])


def test_count_tokens_is_the_models_tokenizer_and_counts_what_the_template_sends(tiny_model):
    from locoder.agent.window import estimate

    model = TransformersModel(TransformersConfig(model=tiny_model, device_map="cpu", torch_dtype="float32",
                                                 max_new_tokens=1, temperature=0, context_window=1024))
    text = "def add(a, b):\n    return a + b"
    assert model.count_tokens(text) == len(model.tokenizer(text, add_special_tokens=False)["input_ids"])
    assert model.count_tokens(text) != estimate(text)  # the tokenizer trained on this line, not a guess
    messages = [Message("system", "You are a coding agent."),
                Message("user", "Read the file calc.py and tell me what it does."), Message("tool", text)]
    real = model.query(messages).usage.prompt_tokens
    template = model.query([Message(m.role, "") for m in messages]).usage.prompt_tokens
    # What the loop counts per message is what the prompt holds beside the template's own tokens.
    assert sum(model.count_tokens(m.content) for m in messages) == real - template
