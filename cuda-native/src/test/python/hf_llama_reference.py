"""Builds a random-weight Llama-3-architecture model with Hugging Face transformers, saves it as
safetensors (bf16) + config.json, and writes reference float32 logits and 32 greedy tokens.

Usage: python3 hf_llama_reference.py OUT_DIR
Writes: OUT_DIR/model.safetensors, OUT_DIR/config.json, OUT_DIR/prompt.txt (token ids),
OUT_DIR/logits.f32 ([len(prompt), vocab] little-endian float32, from a float32 forward on the CPU
over the bf16-representable weights), OUT_DIR/greedy.txt (32 greedy token ids after the prompt, float32),
OUT_DIR/inv_freq.txt (the rotary inverse frequencies transformers used).
Used by HfLlamaGpuTest (cuda-native); runs on the GPU machine, which has torch + transformers.
"""
import copy
import json
import os
import sys

import torch
from transformers import LlamaConfig, LlamaForCausalLM

out = sys.argv[1]
os.makedirs(out, exist_ok=True)
torch.manual_seed(1234)
cfg = LlamaConfig(
    vocab_size=1024,
    hidden_size=256,
    intermediate_size=704,
    num_hidden_layers=4,
    num_attention_heads=8,
    num_key_value_heads=2,
    max_position_embeddings=2048,
    rms_norm_eps=1e-5,
    rope_theta=500000.0,
    rope_scaling={"rope_type": "llama3", "factor": 8.0, "low_freq_factor": 1.0,
                  "high_freq_factor": 4.0, "original_max_position_embeddings": 8192},
    tie_word_embeddings=False,
    initializer_range=0.05,
    bos_token_id=1,
    eos_token_id=2,
    attn_implementation="eager",
)
model = LlamaForCausalLM(cfg).float().eval()
with torch.no_grad():
    for name, p in model.named_parameters():
        if name.endswith("norm.weight"):
            p.copy_(1.0 + 0.1 * torch.randn_like(p))  # non-trivial norm weights
        # make every weight exactly bf16-representable, so bf16 files lose nothing
        p.copy_(p.to(torch.bfloat16).to(torch.float32))
# save a bf16 copy; the reference stays float32 (converting the model itself back and forth would
# also round its rotary inv_freq buffer to bf16)
copy.deepcopy(model).to(torch.bfloat16).save_pretrained(out, safe_serialization=True)
dev = "cpu"  # float32 on the CPU: no TF32 anywhere in the reference
prompt = [1, 17, 300, 5, 999, 42, 7, 512, 64, 3, 100, 200, 250, 11, 13, 800]
with torch.no_grad():
    ids = torch.tensor([prompt], device=dev)
    logits = model(ids, use_cache=False).logits[0].float().cpu().contiguous()
    seq = list(prompt)
    greedy = []
    for _ in range(32):
        lg = model(torch.tensor([seq], device=dev), use_cache=False).logits[0, -1]
        nxt = int(torch.argmax(lg).item())
        greedy.append(nxt)
        seq.append(nxt)
    inv = model.model.rotary_emb.inv_freq.float().cpu().tolist()
logits.numpy().astype("<f4").tofile(os.path.join(out, "logits.f32"))
with open(os.path.join(out, "prompt.txt"), "w") as f:
    f.write(" ".join(map(str, prompt)) + "\n")
with open(os.path.join(out, "greedy.txt"), "w") as f:
    f.write(" ".join(map(str, greedy)) + "\n")
with open(os.path.join(out, "inv_freq.txt"), "w") as f:
    f.write("\n".join(repr(x) for x in inv) + "\n")
print("transformers config:", json.dumps(json.load(open(os.path.join(out, "config.json")))))
print("logits shape", tuple(logits.shape), "greedy", greedy)
