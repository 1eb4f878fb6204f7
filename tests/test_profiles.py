import pytest

from locoder.models.profiles import GENERIC, normalise, profile_for


@pytest.mark.parametrize(
    "model,family",
    [
        ("qwen2.5-coder-1.5b", "qwen2.5"),
        ("Qwen/Qwen2.5-Coder-7B-Instruct", "qwen2.5"),
        ("qwen3:1.7b", "qwen3"),
        ("ollama:qwen3-coder:30b", "qwen3-coder"),
        ("Qwen3-Coder-30B-A3B-Instruct", "qwen3-coder"),
        ("mistralai/Devstral-Small-2505", "devstral"),
        ("mistral-nemo", "mistral"),
        ("meta-llama/Llama-3.1-8B-Instruct", "llama"),
        ("meta-llama-3.1-8b", "llama"),
        ("codellama:7b", "codellama"),
        ("deepseek-coder-v2", "deepseek"),
        ("deepseek-r1:1.5b", "deepseek-r1"),
        ("google/gemma-3-4b-it", "gemma"),
        ("gpt-oss-20b", "gpt-oss"),
        ("microsoft/Phi-4-mini-instruct", "phi"),
        ("/models/qwen3-4b-q4_k_m.gguf", "qwen3"),
    ],
)
def test_profiles_by_name_prefix(model, family):
    assert profile_for(model).family == family


def test_unknown_model_is_generic():
    assert profile_for("my-finetune") is GENERIC


def test_quirks():
    assert profile_for("qwen3:8b").thinking_switch and not profile_for("qwen2.5-coder").thinking
    assert not profile_for("gemma-3-1b").system_role
    assert profile_for("gpt-oss-20b").tool_syntax == "harmony"
    assert "<|im_end|>" in profile_for("qwen2.5").stop


def test_normalise():
    assert normalise(" Org/Some Model_Name ") == "some-model-name"
