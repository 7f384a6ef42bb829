#!/usr/bin/env python3
"""Seal one PDF N times with pyHanko's Python API, in one process (or P worker processes).

The anchor for scripts/bench-sign (issue 2 §7): same key, certificate and chain as Chop,
PAdES (SubFilter ETSI.CAdES.detached), SHA-256, no timestamp, a visible signature field of the
same size and place as Chop's seal (42 mm square, bottom right of the last page) with pyHanko's
default text stamp (Chop draws its PNG seal picture; pyHanko would need Pillow for images).
Each document is read from disk and written to disk, as Chop's batch mode does.

Prints one JSON line: {"docs": N, "seconds": wall-clock seconds for the N documents,
"cpu_seconds": CPU seconds of this process for them (single process only, else null),
"processes": P, "pyhanko_version": "..."}. Interpreter start-up, imports, key loading and one
warm-up signature per worker are not timed.
"""

import argparse
import io
import json
import multiprocessing
import os
import time

MM = 72.0 / 25.4
_STATE = {}


def _init(key, cert, chain, visible):
    from pyhanko.sign import signers

    _STATE["signer"] = signers.SimpleSigner.load(key, cert, ca_chain_files=(chain,))
    _STATE["visible"] = visible


def _sign(src, dst):
    from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
    from pyhanko.sign import fields, signers
    from pyhanko.sign.fields import SigSeedSubFilter

    with open(src, "rb") as f:
        data = f.read()
    w = IncrementalPdfFileWriter(io.BytesIO(data))
    spec = None
    if _STATE["visible"]:
        pages = int(w.root["/Pages"]["/Count"])
        last = w.find_page_for_modification(pages - 1)[0].get_object()
        box = [float(v) for v in last.get("/CropBox", last.get("/MediaBox", [0, 0, 595.28, 841.89]))]
        x = box[2] - (15 + 42) * MM
        y = box[1] + 20 * MM
        spec = fields.SigFieldSpec(
            sig_field_name="Seal1",
            on_page=pages - 1,
            box=(int(x), int(y), int(x + 42 * MM), int(y + 42 * MM)),
        )
    meta = signers.PdfSignatureMetadata(
        field_name="Seal1",
        md_algorithm="sha256",
        subfilter=SigSeedSubFilter.PADES,
        reason="bench",
    )
    out = io.BytesIO()
    signers.sign_pdf(w, meta, signer=_STATE["signer"], new_field_spec=spec, output=out)
    with open(dst, "wb") as f:
        f.write(out.getbuffer())


def _job(args):
    i, src, out_dir = args
    _sign(src, os.path.join(out_dir, f"{i:05d}.pdf"))
    return 1


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--key", required=True)
    p.add_argument("--cert", required=True)
    p.add_argument("--chain", required=True)
    p.add_argument("--input", required=True)
    p.add_argument("--count", type=int, required=True)
    p.add_argument("--out-dir", required=True)
    p.add_argument("--processes", type=int, default=1)
    p.add_argument("--invisible", action="store_true")
    a = p.parse_args()
    import logging
    import warnings

    logging.disable(logging.CRITICAL)
    warnings.simplefilter("ignore")
    from pyhanko.version import __version__

    os.makedirs(a.out_dir, exist_ok=True)
    jobs = [(i, a.input, a.out_dir) for i in range(a.count)]
    init = (a.key, a.cert, a.chain, not a.invisible)
    if a.processes <= 1:
        _init(*init)
        _sign(a.input, os.path.join(a.out_dir, "warmup.pdf"))
        t0, c0 = time.perf_counter(), time.process_time()
        done = sum(_job(j) for j in jobs)
        t1, c1 = time.perf_counter(), time.process_time()
    else:
        ctx = multiprocessing.get_context("fork")
        with ctx.Pool(a.processes, initializer=_init, initargs=init) as pool:
            warm = [(f"w{i}", a.input, a.out_dir) for i in range(a.processes)]
            pool.map(_job_warm, warm, chunksize=1)
            t0 = time.perf_counter()
            done = sum(pool.map(_job, jobs, chunksize=max(1, a.count // (a.processes * 8))))
            t1 = time.perf_counter()
            c0 = c1 = None
    print(json.dumps({
        "docs": done,
        "seconds": t1 - t0,
        "cpu_seconds": None if c0 is None else c1 - c0,
        "processes": a.processes,
        "pyhanko_version": __version__,
    }))


def _job_warm(args):
    name, src, out_dir = args
    _sign(src, os.path.join(out_dir, f"warmup-{name}.pdf"))
    return 1


if __name__ == "__main__":
    main()
