"""Train the built-in model: a tiny GPT-2 that adds, with the answer digits written reversed.

    python docs/adder/train_adder.py --out .cache/adder [--seed 0] [--steps N]

Karpathy's exercise: `23+45=` is followed by `86` reversed (`68`) and the end marker `\\n`. Writing
the least significant digit first lets the model produce each digit after it has produced the carry
that feeds it. The architecture is exactly GPT-2 (Hugging Face GPT2LMHeadModel: pre-LN blocks,
GELU tanh, learned positions, tied head), only small. Loss is on the answer tokens only.

The output folder holds what `python -m weights_pack convert` packs: the Hugging Face folder
(config.json + model.safetensors) and nanoGPT's meta.pkl (character tokenizer), plus train_log.json
(loss curve) and accuracy.json (greedy accuracy on held-out problems). See docs/adder.md.
"""
from __future__ import annotations

import argparse
import json
import math
import pickle
import random
import sys
import time
from pathlib import Path

import torch
import torch.nn.functional as F

END = "\n"  # end-of-answer marker; also what pads a batch on the right (those positions carry no loss)
CHARS = sorted(set("0123456789+=" + END))  # nanoGPT sorts its characters: ['\n', '+', '0'…'9', '=']
IGNORE = -100  # label of a position that gets no loss (torch cross_entropy's ignore_index)

MAX_DIGITS = 3
BLOCK_SIZE = 16  # n_positions; the longest example "999+999=8991\n" is 13 characters
DIGITS_WEIGHTS = {1: 0.1, 2: 0.4, 3: 0.5}  # how many digits an operand has, drawn per operand
HOLDOUT_SEED = 20240816  # fixed on purpose: every training seed holds out the same problems
HOLDOUT_FRACTION = 0.1
HOLDOUT_MAX_PER_SHAPE = 2000

MODEL_SHAPE = {"n_layer": 3, "n_head": 4, "n_embd": 64}
DEFAULTS = {"seed": 0, "steps": 3000, "batch_size": 128, "lr": 3e-3, "warmup": 100,
            "weight_decay": 0.1, "log_every": 50, "threads": 1}


# ---- tokenizer -------------------------------------------------------------------------------------

def make_meta() -> dict:
    """nanoGPT's meta.pkl content for the character vocabulary."""
    return {"vocab_size": len(CHARS), "stoi": {c: i for i, c in enumerate(CHARS)},
            "itos": {i: c for i, c in enumerate(CHARS)}}


def encode(text: str, stoi: dict) -> list[int]:
    return [stoi[c] for c in text]


def decode(ids, itos: dict) -> str:
    return "".join(itos[int(i)] for i in ids)


# ---- problems --------------------------------------------------------------------------------------

def prompt_text(a: int, b: int) -> str:
    """What the learner types: the question up to and including '='."""
    return f"{a}+{b}="


def answer_text(a: int, b: int) -> str:
    """What the model must write after the prompt: the sum's digits reversed, then END."""
    return str(a + b)[::-1] + END


def read_answer(generated: str) -> int | None:
    """The sum a generated continuation stands for, or None when it is not digits then END."""
    digits = generated.split(END, 1)[0]
    if not digits.isdigit() or END not in generated:
        return None
    return int(digits[::-1])


def operand_range(n_digits: int) -> range:
    return range(0, 10) if n_digits == 1 else range(10 ** (n_digits - 1), 10 ** n_digits)


def shape_of(a: int, b: int) -> tuple[int, int]:
    """(digits of a, digits of b): the bucket accuracy is reported by."""
    return len(str(a)), len(str(b))


def held_out_pairs() -> dict[tuple[int, int], list[tuple[int, int]]]:
    """Problems training never sees, per shape (except 1+1: only 100 exist, and learners type them)."""
    rng = random.Random(HOLDOUT_SEED)
    held = {}
    for da in range(1, MAX_DIGITS + 1):
        for db in range(1, MAX_DIGITS + 1):
            if (da, db) == (1, 1):
                continue
            ra, rb = operand_range(da), operand_range(db)
            n = min(int(len(ra) * len(rb) * HOLDOUT_FRACTION), HOLDOUT_MAX_PER_SHAPE)
            picks = rng.sample(range(len(ra) * len(rb)), n)  # index i ↔ pair (ra[i // len(rb)], rb[i % len(rb)])
            held[(da, db)] = sorted((ra[i // len(rb)], rb[i % len(rb)]) for i in picks)
    return held


def draw_operand(rng: random.Random) -> int:
    n_digits = rng.choices(list(DIGITS_WEIGHTS), weights=list(DIGITS_WEIGHTS.values()))[0]
    r = operand_range(n_digits)
    return rng.randrange(r.start, r.stop)


def draw_training_pair(rng: random.Random, excluded: frozenset) -> tuple[int, int]:
    while True:
        pair = (draw_operand(rng), draw_operand(rng))
        if pair not in excluded:
            return pair


def example_tensors(a: int, b: int, stoi: dict) -> tuple[list[int], list[int]]:
    """(inputs, labels) of one problem, padded to BLOCK_SIZE; labels are IGNORE on the question.

    Position t predicts token t+1, so the labels are the text shifted by one; a label is kept only
    when the token it names belongs to the answer (digits and END).
    """
    prompt, answer = prompt_text(a, b), answer_text(a, b)
    ids = encode(prompt + answer, stoi)
    labels = [IGNORE] * (len(prompt) - 1) + ids[len(prompt):]
    pad = BLOCK_SIZE - len(ids) + 1
    return ids[:-1] + [stoi[END]] * pad, labels + [IGNORE] * pad


def make_batch(rng: random.Random, excluded: frozenset, stoi: dict, batch_size: int):
    pairs = [draw_training_pair(rng, excluded) for _ in range(batch_size)]
    inputs, labels = zip(*(example_tensors(a, b, stoi) for a, b in pairs))
    return torch.tensor(inputs), torch.tensor(labels)  # [batch, BLOCK_SIZE] each


# ---- model -----------------------------------------------------------------------------------------

def make_config(vocab_size: int, end_id: int, shape: dict = MODEL_SHAPE):
    from transformers import GPT2Config

    return GPT2Config(
        vocab_size=vocab_size, n_positions=BLOCK_SIZE, **shape,
        activation_function="gelu_new", tie_word_embeddings=True,
        resid_pdrop=0.0, embd_pdrop=0.0, attn_pdrop=0.0,
        bos_token_id=end_id, eos_token_id=end_id,
    )


def make_model(config):
    from transformers import GPT2LMHeadModel

    config._attn_implementation = "eager"  # plain matmul attention: reproducible, no fused kernels
    return GPT2LMHeadModel(config)


def masked_loss(model, inputs, labels):
    logits = model(input_ids=inputs).logits  # [batch, BLOCK_SIZE, vocab]
    return F.cross_entropy(logits.reshape(-1, logits.shape[-1]), labels.reshape(-1), ignore_index=IGNORE)


def learning_rate(step: int, steps: int, peak: float, warmup: int) -> float:
    """Linear warmup, then cosine decay to a tenth of the peak."""
    if step < warmup:
        return peak * (step + 1) / warmup
    progress = (step - warmup) / max(1, steps - warmup)
    return peak * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * progress)))


def seed_everything(seed: int, threads: int) -> None:
    torch.manual_seed(seed)
    torch.set_num_threads(threads)  # results depend on the thread count; the default is fixed
    torch.use_deterministic_algorithms(True)


def train(seed: int = DEFAULTS["seed"], steps: int = DEFAULTS["steps"], batch_size: int = DEFAULTS["batch_size"],
          lr: float = DEFAULTS["lr"], warmup: int = DEFAULTS["warmup"],
          weight_decay: float = DEFAULTS["weight_decay"], log_every: int = DEFAULTS["log_every"],
          threads: int = DEFAULTS["threads"], shape: dict = MODEL_SHAPE, progress=None):
    """Train from scratch; return (model, meta, log). Same arguments → same loss curve."""
    seed_everything(seed, threads)
    meta = make_meta()
    model = make_model(make_config(meta["vocab_size"], meta["stoi"][END], shape))
    model.train()
    decay = [p for p in model.parameters() if p.dim() >= 2]  # matrices decay; biases and norms do not
    no_decay = [p for p in model.parameters() if p.dim() < 2]
    optimizer = torch.optim.AdamW([{"params": decay, "weight_decay": weight_decay},
                                   {"params": no_decay, "weight_decay": 0.0}], lr=lr, betas=(0.9, 0.95))
    rng = random.Random(seed)
    excluded = frozenset(p for pairs in held_out_pairs().values() for p in pairs)
    log = {"seed": seed, "steps": steps, "batch_size": batch_size, "lr": lr, "warmup": warmup,
           "weight_decay": weight_decay, "threads": threads, "model": dict(shape), "log_every": log_every,
           "digits_weights": {str(k): v for k, v in DIGITS_WEIGHTS.items()}, "block_size": BLOCK_SIZE,
           "loss": []}
    window, started = [], time.perf_counter()
    for step in range(steps):
        for group in optimizer.param_groups:
            group["lr"] = learning_rate(step, steps, lr, warmup)
        inputs, labels = make_batch(rng, excluded, meta["stoi"], batch_size)
        loss = masked_loss(model, inputs, labels)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        window.append(loss.item())
        if (step + 1) % log_every == 0 or step + 1 == steps:
            entry = {"step": step + 1, "loss": sum(window) / len(window),
                     "seconds": round(time.perf_counter() - started, 2)}
            log["loss"].append(entry)
            window = []
            if progress:
                progress(entry)
    log["train_seconds"] = round(time.perf_counter() - started, 2)
    model.eval()
    return model, meta, log


# ---- evaluation ------------------------------------------------------------------------------------

@torch.no_grad()
def greedy_continuations(model, prompts: list[str], meta: dict, max_new_tokens: int = MAX_DIGITS + 2):
    """Greedy (argmax) continuation of each prompt; prompts of one length run as one batch."""
    out = {}
    by_length = {}
    for p in prompts:
        by_length.setdefault(len(p), []).append(p)
    for group in by_length.values():
        ids = torch.tensor([encode(p, meta["stoi"]) for p in group])  # [batch, len]
        for _ in range(max_new_tokens):
            if ids.shape[1] >= BLOCK_SIZE:
                break
            next_ids = model(input_ids=ids).logits[:, -1, :].argmax(-1, keepdim=True)  # [batch, 1]
            ids = torch.cat([ids, next_ids], dim=1)
        for p, row in zip(group, ids.tolist()):
            out[p] = decode(row[len(p):], meta["itos"])
    return out


def evaluate(model, meta: dict, pairs_by_shape: dict) -> dict:
    """Greedy accuracy per operand shape, e.g. {"2+2": {"correct": 801, "total": 810, "accuracy": …}}."""
    prompts = [prompt_text(a, b) for pairs in pairs_by_shape.values() for a, b in pairs]
    generated = greedy_continuations(model, prompts, meta)
    report = {}
    for (da, db), pairs in pairs_by_shape.items():
        correct = sum(read_answer(generated[prompt_text(a, b)]) == a + b for a, b in pairs)
        report[f"{da}+{db}"] = {"correct": correct, "total": len(pairs), "accuracy": correct / len(pairs)}
    return report


def all_one_digit_pairs() -> list[tuple[int, int]]:
    return [(a, b) for a in range(10) for b in range(10)]


# ---- command line ----------------------------------------------------------------------------------

def save(out: Path, model, meta: dict, log: dict, accuracy: dict) -> None:
    out.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(out)  # config.json + model.safetensors
    (out / "meta.pkl").write_bytes(pickle.dumps(meta))
    (out / "train_log.json").write_text(json.dumps(log, indent=1) + "\n")
    (out / "accuracy.json").write_text(json.dumps(accuracy, indent=1) + "\n")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python docs/adder/train_adder.py", description=__doc__.split("\n")[0])
    parser.add_argument("--out", required=True, type=Path, help="output folder (HF model + meta.pkl + logs)")
    parser.add_argument("--seed", type=int, default=DEFAULTS["seed"])
    parser.add_argument("--steps", type=int, default=DEFAULTS["steps"])
    parser.add_argument("--batch-size", type=int, default=DEFAULTS["batch_size"])
    parser.add_argument("--lr", type=float, default=DEFAULTS["lr"])
    parser.add_argument("--threads", type=int, default=DEFAULTS["threads"],
                        help="torch CPU threads (the loss curve is reproducible for a fixed value)")
    args = parser.parse_args(argv)

    def progress(entry):
        print(f"step {entry['step']:5d}  loss {entry['loss']:.4f}  {entry['seconds']:.0f}s", flush=True)

    model, meta, log = train(seed=args.seed, steps=args.steps, batch_size=args.batch_size, lr=args.lr,
                             threads=args.threads, progress=progress)
    held = held_out_pairs()
    accuracy = {"held_out": evaluate(model, meta, held),
                "one_digit_all_pairs": evaluate(model, meta, {(1, 1): all_one_digit_pairs()})["1+1"],
                "parameters": sum(p.numel() for p in model.parameters()),
                "seed": args.seed, "steps": args.steps, "train_seconds": log["train_seconds"]}
    save(args.out, model, meta, log, accuracy)
    for shape, r in accuracy["held_out"].items():
        print(f"held-out {shape}: {r['correct']}/{r['total']} = {r['accuracy']:.4f}")
    print(f"1+1 (all 100, seen in training): {accuracy['one_digit_all_pairs']['accuracy']:.4f}")
    print(f"wrote {args.out}  ({accuracy['parameters']} parameters, {log['train_seconds']:.0f}s training)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
