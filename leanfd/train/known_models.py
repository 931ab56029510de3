"""The shape fields of the config.json of the models the shipped configs name, for planning offline.

`leanfd train --dry-run` plans memory before any download. A local path or the local Hugging Face
cache is read first (`memory_plan.read_shape`); these entries are the fallback when neither has
the model. The values are the published config.json's (model_type and the fields that set the
parameter count), as recorded on 2026-12-01; the rest of each config (rope, eps, token ids) does
not change the memory and is left to transformers' defaults.
"""

from __future__ import annotations

from typing import Any

_DEEPSEEK_PROVER_V15: dict[str, Any] = {
    "model_type": "llama",  # LlamaForCausalLM
    "hidden_size": 4096,
    "intermediate_size": 11008,
    "num_hidden_layers": 30,
    "num_attention_heads": 32,
    "num_key_value_heads": 32,
    "vocab_size": 102400,
    "tie_word_embeddings": False,
}

KNOWN_MODELS: dict[str, dict[str, Any]] = {
    "deepseek-ai/DeepSeek-Prover-V1.5-SFT": _DEEPSEEK_PROVER_V15,
    "deepseek-ai/DeepSeek-Prover-V1.5-RL": _DEEPSEEK_PROVER_V15,
    "AI-MO/Kimina-Prover-Preview-Distill-1.5B": {
        "model_type": "qwen2",  # Qwen2ForCausalLM
        "hidden_size": 1536,
        "intermediate_size": 8960,
        "num_hidden_layers": 28,
        "num_attention_heads": 12,
        "num_key_value_heads": 2,
        "vocab_size": 151936,
        "tie_word_embeddings": True,
    },
}
