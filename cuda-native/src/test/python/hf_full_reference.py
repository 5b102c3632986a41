"""Builds a full-size random-weight model of one architecture with Hugging Face transformers, from the
shape of its published config.json, saves it as bf16 safetensors + config.json, and writes float32
reference logits and 32 greedy tokens.

Usage: python3 hf_full_reference.py ARCH OUT_DIR      ARCH: llama | qwen2 | qwen3 | mistral
Shapes (the published config.json of each model; only the weights are random):
  llama   Llama-3.1-8B      4096 wide, 32 layers, 32/8 heads, 14336 MLP, vocab 128256, llama3 rope scaling
  qwen2   Qwen2.5-7B        3584 wide, 28 layers, 28/4 heads, 18944 MLP, vocab 152064, q/k/v bias
  qwen3   Qwen3-8B          4096 wide, 36 layers, 32/8 heads (head_dim 128), 12288 MLP, vocab 151936, q/k norm
  mistral Mistral-7B-v0.3   4096 wide, 32 layers, 32/8 heads, 14336 MLP, vocab 32768
Writes OUT_DIR/model*.safetensors, config.json, prompt.txt, logits.f32 ([len(prompt), vocab]
little-endian float32, a float32 forward on the GPU with TF32 off, over bf16-representable weights),
greedy.txt (32 greedy ids after the prompt, float32), hf_bf16_rel.txt (the worst relative error over the
prompt of transformers' own bf16 forward against the float32 one: the yardstick for a bf16 engine). Used by FullSizeArchitecturesGpuTest (cuda-native)
on the GPU machine, which has torch + transformers and no network (nothing is downloaded).
"""
import copy
import os
import sys

import torch
import transformers

arch, out = sys.argv[1], sys.argv[2]
os.makedirs(out, exist_ok=True)
torch.manual_seed(4321)
torch.backends.cuda.matmul.allow_tf32 = False
torch.backends.cudnn.allow_tf32 = False
torch.set_float32_matmul_precision("highest")

common = dict(max_position_embeddings=4096, tie_word_embeddings=False, initializer_range=0.02,
              bos_token_id=1, eos_token_id=2, attn_implementation="eager")
if arch == "llama":
    cfg = transformers.LlamaConfig(vocab_size=128256, hidden_size=4096, intermediate_size=14336, num_hidden_layers=32,
                                   num_attention_heads=32, num_key_value_heads=8, rms_norm_eps=1e-5, rope_theta=500000.0,
                                   rope_scaling={"rope_type": "llama3", "factor": 8.0, "low_freq_factor": 1.0,
                                                 "high_freq_factor": 4.0, "original_max_position_embeddings": 8192}, **common)
    cls = transformers.LlamaForCausalLM
elif arch == "qwen2":
    cfg = transformers.Qwen2Config(vocab_size=152064, hidden_size=3584, intermediate_size=18944, num_hidden_layers=28,
                                   num_attention_heads=28, num_key_value_heads=4, rms_norm_eps=1e-6, rope_theta=1000000.0,
                                   use_sliding_window=False, **common)
    cls = transformers.Qwen2ForCausalLM
elif arch == "qwen3":
    cfg = transformers.Qwen3Config(vocab_size=151936, hidden_size=4096, intermediate_size=12288, num_hidden_layers=36,
                                   num_attention_heads=32, num_key_value_heads=8, head_dim=128, rms_norm_eps=1e-6,
                                   rope_theta=1000000.0, attention_bias=False, use_sliding_window=False, **common)
    cls = transformers.Qwen3ForCausalLM
elif arch == "mistral":
    cfg = transformers.MistralConfig(vocab_size=32768, hidden_size=4096, intermediate_size=14336, num_hidden_layers=32,
                                     num_attention_heads=32, num_key_value_heads=8, rms_norm_eps=1e-5, rope_theta=1000000.0,
                                     sliding_window=None, **common)
    cls = transformers.MistralForCausalLM
else:
    raise SystemExit("unknown ARCH " + arch)

dev = "cuda"
with torch.device(dev):
    model = cls(cfg).float().eval()
with torch.no_grad():
    for name, p in model.named_parameters():
        if name.endswith("norm.weight"):
            p.copy_(1.0 + 0.1 * torch.randn_like(p))  # non-trivial norm weights (q/k norms too)
        elif name.endswith(".bias"):
            p.copy_(0.02 * torch.randn_like(p))  # Qwen2's q/k/v biases, zero at init
        p.copy_(p.to(torch.bfloat16).to(torch.float32))  # bf16-representable: the bf16 files lose nothing
half = copy.deepcopy(model).to(torch.bfloat16)
prompt = [1, 17, 300, 5, 999, 42, 7, 512, 64, 3, 100, 200, 250, 11, 13, 800]
with torch.no_grad():  # transformers' own bf16 forward, the yardstick for a bf16 engine
    half_logits = half(torch.tensor([prompt], device=dev), use_cache=False).logits[0].float().cpu()
half.to("cpu").save_pretrained(out, safe_serialization=True, max_shard_size="20GB")
del half
with torch.no_grad():
    logits = model(torch.tensor([prompt], device=dev), use_cache=False).logits[0].float().cpu().contiguous()
    seq = list(prompt)
    greedy = []
    for _ in range(32):
        lg = model(torch.tensor([seq], device=dev), use_cache=False).logits[0, -1]
        nxt = int(torch.argmax(lg).item())
        greedy.append(nxt)
        seq.append(nxt)
    top2 = torch.topk(logits, 2, dim=-1).values
    gap = float((top2[:, 0] - top2[:, 1]).min())
# relative L2 error per position of the bf16 forward against float32 (TestModels.relativeError)
bf16_rel = float(((half_logits - logits).pow(2).sum(-1) / logits.pow(2).sum(-1)).sqrt().max())
with open(os.path.join(out, "hf_bf16_rel.txt"), "w") as f:
    f.write(repr(bf16_rel) + "\n")
logits.numpy().astype("<f4").tofile(os.path.join(out, "logits.f32"))
with open(os.path.join(out, "prompt.txt"), "w") as f:
    f.write(" ".join(map(str, prompt)) + "\n")
with open(os.path.join(out, "greedy.txt"), "w") as f:
    f.write(" ".join(map(str, greedy)) + "\n")
params = sum(p.numel() for p in model.parameters())
print(f"{arch}: {params / 1e9:.2f} B parameters, logits {tuple(logits.shape)}, smallest top-2 gap over the prompt {gap:.4f}, "
      f"transformers bf16 vs float32 rel err {bf16_rel:.4f}, greedy {greedy}")
