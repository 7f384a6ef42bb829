#!/usr/bin/env python3
"""Validate signed PDFs with pyHanko's library API, in one process (start-up costs ~0.45 s).

Used by seal/tests/verify_pyhanko.rs (agreement with Chop, issue 3 §4) and by
scripts/bench-verify (speed, issue 3 §5).

    pyhanko_validate.py --roots ROOT.pem[,ROOT2.pem] [--iterations N] FILE.pdf...

Prints one JSON object: {"files": {FILE: [per-signature verdicts] | {"error": ...}},
"seconds": wall time of the validation loop, "validations": files x iterations}.
Difference analysis is on (pyHanko's default policy); no revocation checking, no network.
"""
import argparse
import json
import sys
import time

from pyhanko.keys import load_cert_from_pemder
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.sign.validation import validate_pdf_signature
from pyhanko_certvalidator import ValidationContext


def verdicts(path, roots):
    out = []
    with open(path, 'rb') as fh:
        reader = PdfFileReader(fh, strict=False)
        for sig in reader.embedded_signatures:
            vc = ValidationContext(
                trust_roots=roots, allow_fetching=False, revocation_mode='soft-fail'
            )
            try:
                st = validate_pdf_signature(sig, vc)
            except Exception as e:  # a validation error is a verdict, not a crash
                out.append({'field': sig.field_name, 'error': repr(e)[:300]})
                continue
            level = st.modification_level
            out.append({
                'field': sig.field_name,
                'intact': bool(st.intact and st.valid),
                'trusted': bool(st.trusted),
                'docmdp_ok': st.docmdp_ok,
                'level': level.name if level is not None else None,
                'bottom_line': bool(st.bottom_line),
            })
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--roots', required=True)
    ap.add_argument('--iterations', type=int, default=1)
    ap.add_argument('files', nargs='+')
    args = ap.parse_args()
    roots = [load_cert_from_pemder(p) for p in args.roots.split(',') if p]
    files = {}
    start = time.perf_counter()
    for _ in range(args.iterations):
        for f in args.files:
            try:
                files[f] = verdicts(f, roots)
            except Exception as e:
                files[f] = {'error': repr(e)[:300]}
    seconds = time.perf_counter() - start
    json.dump({'files': files, 'seconds': seconds,
               'validations': len(args.files) * args.iterations}, sys.stdout)
    print()


if __name__ == '__main__':
    main()
