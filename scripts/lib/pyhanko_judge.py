#!/usr/bin/env python3
"""Judge PDF signatures with pyHanko, many files in one process.

Usage: pyhanko_judge.py --trust ROOT.pem [--trust ROOT2.pem ...] FILE.pdf [FILE2.pdf ...]

Validates every regular signature of every FILE exactly as
`pyhanko sign validate --pretty-print --trust ROOT.pem --trust-replace --no-revocation-check FILE`
does (the same pyHanko functions, the same validation-context settings), but from one Python
process, because pyHanko's start-up (~0.45 s) dominates when many files are judged.

Prints one JSON document on stdout:
  {"pyhanko_version": "...", "files": [{"file": "...", "error": null | "...",
    "signatures": [{"field": ..., "signer_subject": ..., "signer_cert_sha256": ...,
                    "intact": bool, "valid": bool, "trusted": bool, "bottom_line": bool,
                    "coverage": "ENTIRE_FILE" | ..., "modification_level": ... | null,
                    "docmdp_ok": bool | null, "summary": "...", "pretty": "...",
                    "error": null | "..."}]}]}
The "pretty" text is pyHanko's own pretty-print report, byte for byte what the CLI prints for
that signature. Exit status 0 whenever the JSON was written (judgements are in the JSON).
"""

import argparse
import json
import sys
import warnings


def _vc_kwargs(trust_files):
    """Validation-context arguments equivalent to the CLI's
    `--trust F... --trust-replace --no-revocation-check`."""
    try:
        from pyhanko.cli._trust import build_vc_kwargs

        return build_vc_kwargs(
            cli_config=None,
            validation_context=None,
            trust=list(trust_files),
            trust_replace=True,
            other_certs=[],
            eutl_all=False,
            eutl_force_redownload=False,
            eutl_territories=None,
            retroactive_revinfo=False,
            allow_fetching=False,
            revocation_policy="none",
        )
    except ImportError:
        # pyhanko-cli missing: build the same context from the library alone.
        from pyhanko.keys import load_certs_from_pemder

        return dict(
            trust_roots=list(load_certs_from_pemder(trust_files)),
            allow_fetching=False,
            revocation_mode="soft-fail",
        )


def _enum_name(value):
    return None if value is None else getattr(value, "name", str(value))


def judge_file(path, vc_kwargs):
    from pyhanko.pdf_utils.reader import PdfFileReader
    from pyhanko.sign.validation import validate_pdf_signature
    from pyhanko.sign.validation.errors import SignatureValidationError
    from pyhanko.sign.validation.status import format_pretty_print_details
    from pyhanko_certvalidator import ValidationContext

    result = {"file": path, "error": None, "signatures": []}
    try:
        with open(path, "rb") as f:
            reader = PdfFileReader(f)
            for sig in reader.embedded_regular_signatures:
                entry = {
                    "field": sig.field_name,
                    "signer_subject": sig.signer_cert.subject.human_friendly,
                    "signer_cert_sha256": sig.signer_cert.sha256.hex(),
                    "error": None,
                }
                try:
                    status = validate_pdf_signature(
                        sig, signer_validation_context=ValidationContext(**vc_kwargs)
                    )
                except SignatureValidationError as e:
                    entry.update(
                        intact=False, valid=False, trusted=False, bottom_line=False,
                        coverage=None, modification_level=None, docmdp_ok=None,
                        summary="INVALID",
                        pretty="An error occurred while validating this signature: " + str(e),
                        error=str(e),
                    )
                    result["signatures"].append(entry)
                    continue
                entry.update(
                    intact=bool(status.intact),
                    valid=bool(status.valid),
                    trusted=bool(status.trusted),
                    bottom_line=bool(status.bottom_line),
                    coverage=_enum_name(status.coverage),
                    modification_level=_enum_name(status.modification_level),
                    docmdp_ok=status.docmdp_ok,
                    summary=status.summary(),
                    pretty=format_pretty_print_details(status),
                )
                result["signatures"].append(entry)
    except Exception as e:  # a file pyHanko cannot read at all is a judgement too
        result["error"] = f"{type(e).__name__}: {e}"
    return result


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trust", action="append", default=[], required=True)
    parser.add_argument("files", nargs="+")
    args = parser.parse_args()
    warnings.simplefilter("ignore")
    import logging

    logging.disable(logging.CRITICAL)
    from pyhanko.version import __version__

    vc_kwargs = _vc_kwargs(args.trust)
    out = {
        "pyhanko_version": __version__,
        "files": [judge_file(p, vc_kwargs) for p in args.files],
    }
    json.dump(out, sys.stdout, ensure_ascii=False, indent=1)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
