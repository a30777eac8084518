"""The benchmark report as Markdown."""

from __future__ import annotations


def markdown(r: dict) -> str:
    m, c, k, cl = r["models"], r["cascade"], r["cache"], r["continual"]
    lines = [
        "# Brain modules: measured effects",
        "",
        f"Measured {r.get('when', '')} on {r.get('machine', '')}; threads "
        f"{r['threads'] or 'default'}; {'QUICK run (small models)' if r['quick'] else 'full run'}."
        " Data: scikit-learn's bundled digits (8x8 images, 10 classes), stratified split "
        f"{r['data']['train']} train / {r['data']['val']} validation / {r['data']['test']} test. "
        f"Set-up (training + ONNX export) took {r['setup_s']:.0f} s.",
        "",
        f"Models (trained in the set-up step with numpy, exported with onnx.helper as "
        f"MatMul/Add/Relu/Softmax): full MLP 64-{'-'.join(map(str, m['full_hidden']))}-10 "
        f"({m['full_params']:,} parameters), fast MLP 64-{'-'.join(map(str, m['fast_hidden']))}"
        f"-10 ({m['fast_params']:,} parameters); embedding: PCA to 16 dims; continual-learning "
        "features: a frozen random ReLU projection to 256 units.",
        "",
        "## Cascade router (fast model, escalate when top probability < threshold)",
        "",
        f"Threshold chosen on the validation split (the lowest whose answers agree with the "
        f"full model's on >= 99.5 % of validation rows): "
        f"min_top_prob = {c['threshold']}. Timed on the test split, best of {r['runs']} "
        "alternating passes, one request per batch of rows.",
        "",
        "| batch | always-full rows/s | cascade rows/s | speed-up | full acc | cascade acc | "
        "fast acc | loss (pp) | routed to full | agreement with full |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for batch, b in c["batches"].items():
        lines.append(f"| {batch} | {b['full_rows_per_s']:.0f} | {b['cascade_rows_per_s']:.0f} | "
                     f"**{b['speedup']:.2f}x** | {b['accuracy_full']:.4f} | "
                     f"{b['accuracy_cascade']:.4f} | {b['accuracy_fast']:.4f} | "
                     f"**{b['accuracy_loss_pp']:.2f}** | {b['fraction_full']:.1%} | "
                     f"{b['agreement_with_full']:.4f} |")
    lines += [
        "",
        "## Episodic memory as a semantic cache",
        "",
        f"{k['requests']} single-row requests from the test split: {k['kinds']['fresh']} fresh, "
        f"{k['kinds']['repeat']} exact repeats, {k['kinds']['near']} near-duplicates (an earlier "
        "image + Gaussian pixel noise, std 0.03 on a 0..1 scale). Thresholds are multiples of "
        f"the median nearest-neighbour distance between distinct test images in the embedding "
        f"({k['embedding_nn_median']:.3f}). Introduced error = fraction of requests whose cached "
        f"answer's class differs from the full model's. Accuracy without cache: "
        f"{k['accuracy_no_cache']:.4f}. Speed-up: best of {k.get('timed_passes', 1)} "
        "alternating passes over the stream (uncached; cached from an empty cache).",
        "",
        "| threshold | x NN median | hit rate | exact hits | near hits | exact repeats identical "
        "| introduced error | accuracy | speed-up |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for t in k["thresholds"]:
        lines.append(f"| {t['threshold']:.3f} | {t['threshold_x_nn_median']} | "
                     f"{t['hit_rate']:.1%} | {t['exact_hits']} | {t['near_hits']} | "
                     f"{t['exact_repeats_identical']}/{t['exact_repeats']} | "
                     f"{t['introduced_error']:.2%} | {t['accuracy']:.4f} | "
                     f"{t['speedup']:.2f}x |")
    lines += [
        "",
        "## Continual learning (classes 0-4, then 5-9)",
        "",
        "A softmax-regression head on frozen ONNX features learns online through "
        "`session.learn` (mini-batches of 10), first on classes 0-4, then on 5-9; "
        "`consolidate()` at each task boundary. Accuracy on the test images of each split.",
        "",
        "| setting | first split after A | first split after B | second split after B | "
        "all after B | forgetting (pp) |",
        "|---|---|---|---|---|---|",
    ]
    for name in ("plain", "ewc", "replay", "ewc+replay"):
        x = cl[name]
        lines.append(f"| {name} | {x['acc_first_after_A']:.4f} | {x['acc_first_after_B']:.4f} | "
                     f"{x['acc_second_after_B']:.4f} | {x['acc_all_after_B']:.4f} | "
                     f"{x['forgetting_pp']:.1f} |")
    lines += ["", f"EWC + replay cuts forgetting by **{cl['forgetting_reduction']:.1f}x** "
                  "(target >= 2x).", ""]
    return "\n".join(lines)
