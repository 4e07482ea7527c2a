"""`python -m weights_pack convert|verify|info`; exit 0 on success, 1 on bad input or an invalid zip."""
from __future__ import annotations

import argparse
import json
import sys
from math import prod

from weights_pack.errors import PackError
from weights_pack.zipwriter import FREE_SPACE_ENV, megabytes


def parser() -> argparse.ArgumentParser:
    root = argparse.ArgumentParser(prog="python -m weights_pack",
                                   description="Pack GPT-2 weights into the zip the GPT-2 Cells page reads.")
    commands = root.add_subparsers(dest="command", required=True)
    convert = commands.add_parser(
        "convert", help="checkpoint -> weights zip",
        description="SRC: a Hugging Face model folder (config.json + model.safetensors or pytorch_model.bin + "
                    "vocab.json/merges.txt, encoder.json/vocab.bpe, meta.pkl or chars.json), a nanoGPT ckpt.pt "
                    "(meta.pkl or GPT-2 BPE files beside it), or a Hugging Face model id such as gpt2 "
                    "(needs huggingface_hub and a network).",
        epilog=f"Environment: {FREE_SPACE_ENV}=N pretends the output folder has N bytes free.")
    convert.add_argument("src", metavar="SRC", help="model folder, ckpt.pt, or Hugging Face model id")
    convert.add_argument("-o", "--output", required=True, metavar="OUT.zip", help="the zip to write")
    convert.add_argument("--dtype", choices=["float32", "float16"], default="float32")
    convert.add_argument("--force", action="store_true", help="overwrite OUT.zip if it exists")
    convert.add_argument("--name", help="model name shown on the page (default: folder or model id)")
    convert.add_argument("--tokenizer", metavar="PATH",
                         help="folder (or meta.pkl / chars.json) holding the tokenizer, if not next to SRC")
    convert.add_argument("--trim-vocab", action="store_true",
                         help="drop embedding rows beyond the tokenizer's size (nanoGPT's padded vocab)")
    convert.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    verify = commands.add_parser("verify", help="check a weights zip completely (exit 0 only when valid)")
    verify.add_argument("zip")
    verify.add_argument("--all", action="store_true", help="one table row per tensor instead of per kind")
    verify.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    info = commands.add_parser("info", help="print a weights zip's config, tensor count and size")
    info.add_argument("zip")
    info.add_argument("--json", action="store_true", help="print the whole manifest as JSON")
    return root


INTERRUPTED = 130  # the shell's exit status for Ctrl-C (128 + SIGINT)


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        return {"convert": run_convert, "verify": run_verify, "info": run_info}[args.command](args)
    except PackError as error:
        print(f"weights_pack: error: {error}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("weights_pack: interrupted; nothing written", file=sys.stderr)
        return INTERRUPTED


def run_convert(args) -> int:
    from weights_pack.packer import convert

    result = convert(args.src, args.output, dtype=args.dtype, force=args.force, name=args.name,
                     tokenizer=args.tokenizer, trim_vocab=args.trim_vocab,
                     progress=False if args.quiet else None)
    print(result.summary())
    return 0


def run_verify(args) -> int:
    from weights_pack.verifier import verify

    report = verify(args.zip, progress=sys.stderr.isatty() and not args.quiet)
    print(report.table(every_tensor=args.all))
    return 0 if report.ok else 1


def run_info(args) -> int:
    from weights_pack.verifier import info

    manifest = info(args.zip)
    if args.json:
        print(json.dumps(manifest, indent=1, ensure_ascii=False))
        return 0
    tensors = manifest.get("tensors", [])
    config = manifest.get("config", {})
    tokenizer = manifest.get("tokenizer", {})
    print(f"name:       {manifest.get('name')}")
    print(f"format:     {manifest.get('format')} v{manifest.get('format_version')}")
    print("config:     " + " ".join(f"{k}={v}" for k, v in config.items()))
    print(f"tokenizer:  {tokenizer.get('kind')} ({', '.join(tokenizer.get('files', {}).values())})")
    print(f"tensors:    {len(tensors)} ({', '.join(sorted({t.get('dtype') for t in tensors}))}), "
          f"{megabytes(sum(t.get('nbytes', 0) for t in tensors))} "
          f"({sum(t.get('nbytes', 0) for t in tensors):,} bytes)")
    print(f"parameters: {sum(prod(t.get('shape', [])) for t in tensors):,}")
    print(f"file:       {megabytes(manifest['file_size'])} ({manifest['file_size']:,} bytes)")
    return 0
