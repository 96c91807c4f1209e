"""Export a gallery index for other systems (a vector database, a notebook, another tool).

``export_gallery(index, out_dir)`` writes::

    embeddings.npy     [N, C] float32 L2-normalised [Ret] embeddings, row i = Parquet row i
    metadata.parquet   row, path, class (null for files at the root), model, weights_sha256
    index.faiss        a FAISS index over the same rows (faiss.read_index)
    export.json        what the index is: kind, metric, size, dimension, model, cache generation

The FAISS index is the gallery's own approximate stage-1 index when it has one (IVF-PQ or
HNSW, squared L2 on normalised vectors, so smaller is closer; ``2 - 2 cos``), else an exact
``IndexFlatIP`` (inner product = cosine, larger is closer). Each file is written to a temporary
name and moved into place.
"""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path
from typing import Any

import numpy as np

from zse_gui.engine.ann import FaissStage1, _faiss
from zse_gui.engine.cache import atomic_file
from zse_gui.engine.gallery import GalleryIndex
from zse_gui.errors import ConfigError, InputFileError

__all__ = ["EXPORT_FILES", "export_gallery"]

log = logging.getLogger(__name__)

EXPORT_FILES = ("embeddings.npy", "metadata.parquet", "index.faiss", "export.json")


def export_gallery(index: GalleryIndex, out_dir: str | os.PathLike[str]) -> dict[str, Any]:
    """Write the gallery's embeddings, metadata and FAISS index into ``out_dir``.

    Returns:
        The content of ``export.json`` (kind, metric, n, dim, model, weights_sha256, files).

    Raises:
        ConfigError: pyarrow is not installed (``pip install 'zse-gui[scale]'``).
        InputFileError: ``out_dir`` is a file or cannot be written.
    """
    try:
        import pyarrow as pa
        import pyarrow.parquet as pq
    except ImportError:
        raise ConfigError(
            "exporting needs pyarrow for the Parquet file: pip install 'zse-gui[scale]' (or pyarrow)"
        ) from None
    out = Path(out_dir).expanduser()
    faiss = _faiss()
    emb = np.ascontiguousarray(index.embeddings, np.float32)  # [N, C]
    stage1 = index.stage1()
    if isinstance(stage1, FaissStage1):
        fidx, kind, metric = stage1.index, stage1.kind, "l2"
    else:
        fidx = faiss.IndexFlatIP(emb.shape[1])
        fidx.add(emb)
        kind, metric = "flat", "inner_product"
    n = len(index)
    table = pa.table(
        {
            "row": pa.array(np.arange(n, dtype=np.int64)),
            "path": pa.array(index.paths, pa.string()),
            "class": pa.array(index.labels, pa.string()),
            "model": pa.array([index.config_name] * n, pa.string()),
            "weights_sha256": pa.array([index.weights_sha256] * n, pa.string()),
        }
    )
    info = {
        "kind": kind,
        "metric": metric,
        "n": n,
        "dim": int(emb.shape[1]),
        "model": index.config_name,
        "weights_sha256": index.weights_sha256,
        "generation": index.key,
        "files": list(EXPORT_FILES),
    }
    try:
        out.mkdir(parents=True, exist_ok=True)

        with atomic_file(out / "embeddings.npy") as fh:
            np.save(fh, emb)
        with atomic_file(out / "metadata.parquet") as fh:
            pq.write_table(table, fh)
        with atomic_file(out / "index.faiss") as fh:
            writer = faiss.PyCallbackIOWriter(fh.write)
            faiss.write_index(fidx, writer)
            del writer  # flushes what FAISS still buffers
        with atomic_file(out / "export.json") as fh:
            fh.write(json.dumps(info, indent=1).encode("utf-8"))
    except (OSError, RuntimeError) as e:
        reason = e.strerror if isinstance(e, OSError) and e.strerror else str(e)
        raise InputFileError(f"cannot export to {out}: {reason}") from None
    log.info("exported %d items (%s index) to %s", n, kind, out)
    return info
