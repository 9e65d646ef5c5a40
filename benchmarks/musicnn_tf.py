"""musicnn's own extractor on TensorFlow, run in a throwaway venv (never a project dependency).

    python3 -m venv /work/tfvenv
    /work/tfvenv/bin/pip install 'tensorflow-cpu==2.21.*' 'tf-keras==2.21.*' librosa
    /work/tfvenv/bin/pip install --no-deps musicnn==0.1.0
    /work/tfvenv/bin/python benchmarks/musicnn_tf.py reference CLIPS -o OUT.npz
    /work/tfvenv/bin/python benchmarks/musicnn_tf.py time CLIP...

`reference` writes, per clip, musicnn's tag probabilities and penultimate embeddings averaged over
its 3 s patches, for the fidelity test (tests/data/musicnn_reference.npz). `time` prints the
seconds per clip of both models (bench_tagger.py's side-by-side ratio). TF_USE_LEGACY_KERAS=1
is set here.

Two fixes to musicnn 0.1.0 (both outside its code): its spectrogram is cast to float16 and then
`10000 * mel` overflows under NumPy 2 (inf for loud clips: one constant answer). We keep its
float16 rounding but take the product and the log in float32, as NumPy 1 did in a wider type.
And its per-patch "penultimate" features repeat the first batch's: we feed all patches as one
batch.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np

MODELS = ("MSD_musicnn", "MTT_musicnn")


def _fixed_batch_data(audio_file: str, n_frames: int, overlap: int):  # type: ignore[no-untyped-def]
    import librosa
    from musicnn import configuration as config

    audio, sr = librosa.load(audio_file, sr=config.SR)
    rep = librosa.feature.melspectrogram(y=audio, sr=sr, hop_length=config.FFT_HOP,
                                         n_fft=config.FFT_SIZE, n_mels=config.N_MELS).T
    rep = rep.astype(np.float16).astype(np.float32)  # the fix: float32 before the product
    rep = np.log10(10000 * rep + 1)
    starts = range(0, rep.shape[0] - n_frames + 1, overlap)
    batch = np.stack([rep[s:s + n_frames] for s in starts])
    return batch, rep


def _extract(path: str, model: str) -> tuple[np.ndarray, np.ndarray]:
    from musicnn import configuration as config
    from musicnn import extractor as ex

    ex.batch_data = _fixed_batch_data
    # All patches in one batch: musicnn 0.1.0's loop over later batches appends the first
    # batch's penultimate features again (a stale variable), so only one batch is right.
    config.BATCH_SIZE = 1 << 16
    taggram, _, feats = ex.extractor(path, model=model, extract_features=True)
    return taggram.mean(axis=0), np.asarray(feats["penultimate"]).mean(axis=0)


def reference(clips: list[Path], out: Path) -> None:
    data: dict[str, np.ndarray] = {"names": np.array([p.name for p in clips])}
    for model in MODELS:
        tags, emb = zip(*(_extract(str(p), model) for p in clips), strict=True)
        data[f"{model}_tags"] = np.array(tags, dtype=np.float32)
        data[f"{model}_embedding"] = np.array(emb, dtype=np.float32)
    np.savez_compressed(out, **data)
    print(f"wrote {out}: {len(clips)} clips")


def _session(model: str):  # type: ignore[no-untyped-def]
    """musicnn's graph for `model`, built and restored once (as its extractor does per call)."""
    import musicnn
    import tensorflow as tf
    from musicnn import models

    tf.compat.v1.disable_eager_execution()
    graph = tf.Graph()
    with graph.as_default():
        x = tf.compat.v1.placeholder(tf.float32, [None, 187, 96])
        training = tf.compat.v1.placeholder(tf.bool)
        y, *_, penultimate = models.define_model(x, training, model, 50)
        probs = tf.nn.sigmoid(y)
        sess = tf.compat.v1.Session(graph=graph, config=tf.compat.v1.ConfigProto(
            intra_op_parallelism_threads=1, inter_op_parallelism_threads=1))
        tf.compat.v1.train.Saver().restore(sess, os.path.dirname(musicnn.__file__) + f"/{model}/")
    return sess, x, training, probs, penultimate


def timing(clips: list[Path]) -> None:
    """Seconds per clip for both models: spectrogram + all patches in one session run each
    (graph building and weight loading done once, before the clock starts)."""
    sessions = [_session(m) for m in MODELS]
    c0 = time.process_time()
    t0 = time.perf_counter()
    for p in clips:
        batch, _ = _fixed_batch_data(str(p), 187, 187)  # one spectrogram for both, as ours
        for sess, x, training, probs, emb in sessions:
            sess.run([probs, emb], feed_dict={x: batch, training: False})
    print(f"seconds_per_clip {(time.perf_counter() - t0) / len(clips):.4f}")
    print(f"cpu_seconds_per_clip {(time.process_time() - c0) / len(clips):.4f}")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("mode", choices=("reference", "time"))
    ap.add_argument("paths", nargs="+", type=Path)
    ap.add_argument("-o", "--out", type=Path)
    a = ap.parse_args()
    clips = sorted(p for d in a.paths for p in ([d] if d.is_file() else d.rglob("*.wav")))
    sys.stdout = sys.__stdout__
    if a.mode == "reference":
        reference(clips, a.out or Path("musicnn_reference.npz"))
    else:
        timing(clips)


if __name__ == "__main__":
    main()
