"""Average trained readers' weights into one (a uniform "model soup") and export it as the reader's weights.

The ingredients must share one architecture and have been fine-tuned from the same weights (e.g. the phase-2
weights of ``make train-reader`` and a further phase trained from them with ``--init``): their average then lies in
the same basin and reads better than either alone. Measured (README, "Span reader"): the committed phase-2 weights
and a third phase from them (swapped-name near misses, ``--span-loss relevant``, dropout 0.1) average to dev F1 62.1
(the exported fp16 file) against 61.7 and 61.3, and 59.9 against 58.8 on the 1,058 other held-out questions.

The float32 mean of the ingredients is exported in float16 like ``scripts/train_reader.py``'s own weights, then
evaluated from that file on the dev split (oracle passage, relevance AUC against same-article passages); the json
records each ingredient's sha256, training record and dev figures. The abstention threshold is calibrated
afterwards (``scripts/calibrate_service.py``), as for any new weights.

Run: ``.venv/bin/python scripts/soup_reader.py A.safetensors B.safetensors [...] --out WEIGHTS.safetensors``.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Any

os.environ.setdefault("HF_HUB_OFFLINE", "1")
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "scripts"))

import torch  # noqa: E402
from reader_data import ci_ids, load_piaf, split_by_passage  # noqa: E402
from train_reader import dev_record, evaluate, export, relevance_auc, write_meta  # noqa: E402

from index.atomic import sha256_file  # noqa: E402
from rag.reader.inference import E5Reader  # noqa: E402
from rag.reader.model import ReaderConfig, ReaderModel  # noqa: E402

# what calibration adds to a weights' json: stale for the average, recomputed by scripts/calibrate_service.py
CALIBRATION_KEYS = ("default_threshold", "service_calibration", "abstention")
# training-only settings that may differ between ingredients without changing the architecture
TRAINING_ONLY = ("dropout",)


def architecture(meta: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in meta["config"].items() if k not in TRAINING_ONLY}


def soup(paths: list[Path]) -> tuple[ReaderModel, dict[str, Any]]:
    """The uniform float32 average of ``paths``' weights and the json to export with it."""
    from safetensors.torch import load_file

    if len(paths) < 2:
        raise SystemExit("soup_reader: give at least two weights files")
    metas = [json.loads(p.with_suffix(".json").read_text(encoding="utf-8")) for p in paths]
    for path, meta in zip(paths[1:], metas[1:], strict=True):
        if architecture(meta) != architecture(metas[0]):
            raise SystemExit(f"soup_reader: {path} has another architecture than {paths[0]}")
    tensors = [load_file(str(p)) for p in paths]
    if any(t.keys() != tensors[0].keys() for t in tensors):
        raise SystemExit("soup_reader: the weights files hold different tensors")
    config = ReaderConfig.from_dict(architecture(metas[0]))
    model = ReaderModel(config)
    model.load_state_dict({k: sum(t[k].float() for t in tensors) / len(tensors) for k in tensors[0]})
    model.eval()
    meta = {k: v for k, v in metas[0].items() if k not in CALIBRATION_KEYS}
    meta["config"] = config.to_dict()
    meta["training"] = {
        "soup": "uniform average of the float32 weights below (fine-tuned from the same weights)",
        "ingredients": [
            {"weights": p.name, "sha256": sha256_file(p), "training": m["training"], "dev": m.get("dev")}
            for p, m in zip(paths, metas, strict=True)
        ],
    }
    return model, meta


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("weights", type=Path, nargs="+", help="the ingredients' .safetensors (each with its .json)")
    parser.add_argument("--out", type=Path, required=True, help="where to write the averaged .safetensors (+ .json)")
    args = parser.parse_args()
    torch.set_num_threads(max(1, os.cpu_count() or 1))
    model, meta = soup(args.weights)
    export(model, meta, args.out)
    print(f"wrote {args.out} ({args.out.stat().st_size / 1e6:.1f} MB) from {len(args.weights)} weights", flush=True)

    questions, corpus, _ = load_piaf()
    dev = split_by_passage(questions, ci_ids())["dev"]
    article_of = {q.context_id: q.article for q in questions if q.context_id}
    reader = E5Reader(args.out, threads=max(1, os.cpu_count() or 1))
    reader.warm_up()
    final = evaluate(reader, dev) | relevance_auc(reader, dev, corpus, article_of)
    meta["dev"] = dev_record(final)
    write_meta(meta, args.out)
    print("dev:", json.dumps(final), flush=True)


if __name__ == "__main__":
    main()
