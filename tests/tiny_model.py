"""A tiny causal LM with random weights and a tokenizer trained on a few lines of Lean, for tests.

`make_tiny_model(path)` writes a directory that `AutoModelForCausalLM.from_pretrained` and
`AutoTokenizer.from_pretrained` load exactly as they load a user's model: a 2-layer Qwen2 config
(hidden 32) and a byte-level BPE tokenizer (so any text, `ℕ` and `→` included, round-trips without
an unknown token) wrapped in `PreTrainedTokenizerFast`, with pad/eos tokens and a ChatML-style
chat template. Like Qwen's checkpoints, generation stops at either `<|endoftext|>` or `<|im_end|>`
(`generation_config.eos_token_id` is a list). Deterministic: the same arguments give the same files.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

PAD, EOS, IM_START, IM_END = "<pad>", "<|endoftext|>", "<|im_start|>", "<|im_end|>"
SPECIAL_TOKENS = [PAD, EOS, IM_START, IM_END]

CHAT_TEMPLATE = (
    "{% for m in messages %}"
    "<|im_start|>{{ m['role'] }}\n{{ m['content'] }}<|im_end|>\n"
    "{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)

# transformers' Qwen2Tokenizer.PRETOKENIZE_REGEX (GPT-4-like split, one digit per token).
QWEN2_PRETOKENIZE_REGEX = (
    r"""(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*"""
    r"""|\s*[\r\n]+|\s+(?!\S)|\s+"""
)

LEAN_CORPUS = [
    "theorem add_zero' (n : ℕ) : n + 0 = n := by simp",
    "theorem mul_comm' (a b : ℕ) : a * b = b * a := by ring",
    "lemma two_mul' (x : ℝ) : 2 * x = x + x := by ring",
    "example (p q : Prop) (hp : p) (hq : q) : p ∧ q := ⟨hp, hq⟩",
    "theorem le_refl' (a : ℤ) : a ≤ a := le_refl a",
    "example : ∀ n : ℕ, 0 ≤ n := fun n => Nat.zero_le n",
    "import Mathlib\nopen Nat Real\n",
    "  intro h\n  cases h with\n  | inl h => exact h\n  | inr h => omega",
    "  nlinarith [sq_nonneg (a - b), sq_nonneg (a + b)]",
    "  rw [Nat.succ_eq_add_one, add_comm]\n  norm_num",
    "```lean4\ntheorem foo : 1 + 1 = 2 := by norm_num\n```",
    "The proof fails because `simp` made no progress; try `omega` instead.",
]


def make_tiny_model(
    path: str | Path,
    vocab: int = 384,
    *,
    corpus: Sequence[str] | None = None,
    hidden: int = 32,
    layers: int = 2,
    seed: int = 0,
) -> Path:
    """Build and save a tiny random Qwen2 causal LM and its tokenizer to `path`; return the path.

    `vocab` is the BPE vocabulary size asked of the trainer (at least 256 + the 4 special tokens:
    byte-level BPE starts from the 256 bytes); the model's embedding matches the tokenizer's length.
    """
    import torch
    from tokenizers import Regex, Tokenizer, decoders, models, normalizers, pre_tokenizers, trainers
    from transformers import GenerationConfig, PreTrainedTokenizerFast, Qwen2Config, Qwen2ForCausalLM

    path = Path(path)
    path.mkdir(parents=True, exist_ok=True)

    bpe = Tokenizer(models.BPE())
    # The normalizer and pre-tokenizer Qwen2's tokenizer class rebuilds on load (transformers 5 builds
    # Qwen2Tokenizer from vocab + merges): train with the same ones so the loaded ids equal these.
    bpe.normalizer = normalizers.NFC()
    bpe.pre_tokenizer = pre_tokenizers.Sequence(
        [
            pre_tokenizers.Split(Regex(QWEN2_PRETOKENIZE_REGEX), behavior="isolated", invert=False),
            pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False),
        ]
    )
    bpe.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab,
        special_tokens=SPECIAL_TOKENS,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    bpe.train_from_iterator(list(corpus or LEAN_CORPUS), trainer=trainer)
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=bpe,
        pad_token=PAD,
        eos_token=EOS,
        additional_special_tokens=[IM_START, IM_END],
        clean_up_tokenization_spaces=False,
    )
    tokenizer.chat_template = CHAT_TEMPLATE

    pad_id, eos_id, im_end_id = (tokenizer.convert_tokens_to_ids(t) for t in (PAD, EOS, IM_END))
    config = Qwen2Config(
        vocab_size=len(tokenizer),
        hidden_size=hidden,
        intermediate_size=2 * hidden,
        num_hidden_layers=layers,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=4096,  # toy prompts carry the whole prelude header (~1.3k tokens)
        tie_word_embeddings=True,
        bos_token_id=None,
        eos_token_id=eos_id,
        pad_token_id=pad_id,
    )
    # fork_rng: building test fixtures must not move the caller's global RNG.
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = Qwen2ForCausalLM(config)
    model.generation_config = GenerationConfig(eos_token_id=[eos_id, im_end_id], pad_token_id=pad_id)

    model.save_pretrained(path)
    tokenizer.save_pretrained(path)
    return path
