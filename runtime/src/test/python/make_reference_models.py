"""Builds tiny random-weight models of each supported Hugging Face architecture with transformers
and writes float32 reference logits, for the host-backend test ArchitectureReferenceTest.

Usage: python3 make_reference_models.py OUT_DIR
Writes, per architecture A in {llama, qwen2, qwen3, mistral}: OUT_DIR/A/config.json,
OUT_DIR/A/model.safetensors (bf16) and OUT_DIR/A/logits.f32 ([len(PROMPT), vocab] little-endian
float32: transformers' float32 forward on the CPU over PROMPT, causal, no cache). Every weight is
made exactly bf16-representable first, so the bf16 files lose nothing; norm weights and biases are
randomised too (transformers initialises them to 1 and 0). Runs where torch + transformers are
installed (the GPU machine); no network: the configs are built here. Works with transformers 4.5x
and 5.x. The committed test resources were made with torch 2.11.0, transformers 5.17.0; the
mistral folder was then split into two shards by split_safetensors.py (no torch needed).
"""
import copy
import inspect
import os
import sys

import torch
import transformers as tf

PROMPT = [1, 17, 200, 5, 255, 42, 7, 128, 64, 3, 100, 11]
COMMON = dict(vocab_size=256, hidden_size=64, intermediate_size=32, num_hidden_layers=2,
              num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=256,
              initializer_range=0.08, bos_token_id=1, eos_token_id=2)


def rope(cls, theta, scaling=None):
    # transformers 5 takes rope_parameters (theta inside); 4.x takes rope_theta + rope_scaling
    if "rope_parameters" in inspect.signature(cls.__init__).parameters:
        return {"rope_parameters": dict(scaling or {"rope_type": "default"}, rope_theta=theta)}
    return {"rope_theta": theta, "rope_scaling": scaling}


def configs():
    l3 = {"rope_type": "llama3", "factor": 8.0, "low_freq_factor": 1.0, "high_freq_factor": 4.0,
          "original_max_position_embeddings": 64}
    return {
        "llama": tf.LlamaConfig(**COMMON, **rope(tf.LlamaConfig, 5e5, l3), rms_norm_eps=1e-5,
                                tie_word_embeddings=True),
        "qwen2": tf.Qwen2Config(**COMMON, **rope(tf.Qwen2Config, 1e6), rms_norm_eps=1e-6,
                                tie_word_embeddings=True, use_sliding_window=False),
        # one KV head; head_dim 24 differs from hidden_size / heads = 16: q is 96 wide, k and v 24
        "qwen3": tf.Qwen3Config(**dict(COMMON, num_key_value_heads=1), **rope(tf.Qwen3Config, 1e6),
                                head_dim=24, rms_norm_eps=1e-6, tie_word_embeddings=True,
                                attention_bias=False, use_sliding_window=False),
        "mistral": tf.MistralConfig(**COMMON, **rope(tf.MistralConfig, 1e6), rms_norm_eps=1e-5,
                                    tie_word_embeddings=False, sliding_window=None)}


def build(seed, name, cfg, out):
    torch.manual_seed(seed)
    model = tf.AutoModelForCausalLM.from_config(cfg, attn_implementation="eager").float().eval()
    with torch.no_grad():
        for pname, p in model.named_parameters():
            if pname.endswith("norm.weight"):
                p.copy_(1.0 + 0.2 * torch.randn_like(p))
            elif pname.endswith(".bias"):
                p.copy_(0.3 * torch.randn_like(p))
            p.copy_(p.to(torch.bfloat16).float())
        d = os.path.join(out, name)
        # save a bf16 copy: converting the model itself would round its rotary buffers
        copy.deepcopy(model).to(torch.bfloat16).save_pretrained(d)
        logits = model(torch.tensor([PROMPT]), use_cache=False).logits[0].float().contiguous()
    logits.numpy().astype("<f4").tofile(os.path.join(d, "logits.f32"))
    print(name, sorted(os.listdir(d)), logits.argmax(-1).tolist(), "%.3f" % logits.abs().max())


if __name__ == "__main__":
    print("torch", torch.__version__, "transformers", tf.__version__)
    torch.set_num_threads(1)
    for i, (n, c) in enumerate(configs().items()):
        try:
            build(11 + i, n, c, sys.argv[1])
        except Exception as e:  # one architecture failing must not lose the others
            print(n, "FAILED", repr(e))
