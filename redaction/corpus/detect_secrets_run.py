#!/usr/bin/env python3
"""Runs Yelp's detect-secrets over a corpus file and prints its figures as JSON.

The bench (redaction/benches/corpus.rs) compares scrim's scrubber with an
established scanner on the same held-out lines; this is the scanner's side.

How detect-secrets is used: with its default plugins and default filters
(`detect_secrets.settings.default_settings`), over one file holding the
corpus lines one per line, scanned by `SecretsCollection.scan_file`: the
way `detect-secrets scan` reads a file. Each reported secret carries its
line number and the value it found. (`scan_line`, the ad-hoc string mode,
searches eagerly and reports nearly every word of a command line as a
high-entropy string, which says nothing about a file of command lines.)

A secret line counts as caught when, for each listed secret, some value
reported on that line contains it (the report covers the secret); a
benign line counts as changed when anything at all is reported on it.

Usage: detect_secrets_run.py CORPUS.jsonl
Prints {"available": false, "reason": ...} if detect-secrets is missing.
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
import time


def main() -> int:
    if len(sys.argv) != 2:
        print(json.dumps({"available": False, "reason": "usage: detect_secrets_run.py CORPUS.jsonl"}))
        return 2
    try:
        from detect_secrets import SecretsCollection
        from detect_secrets.settings import default_settings
        from detect_secrets.__version__ import VERSION
    except ImportError as error:
        print(json.dumps({"available": False, "reason": f"detect-secrets is not installed ({error}); scripts/setup.sh installs it"}))
        return 0

    with open(sys.argv[1], encoding="utf-8") as corpus:
        entries = [json.loads(row) for row in corpus if row.strip()]

    with tempfile.TemporaryDirectory() as scratch:
        path = os.path.join(scratch, "commands.txt")
        with open(path, "w", encoding="utf-8") as out:
            for entry in entries:
                out.write(entry["line"] + "\n")
        with default_settings():
            collection = SecretsCollection()
            started = time.perf_counter()
            collection.scan_file(path)
            seconds = time.perf_counter() - started
        found: dict[int, list[str]] = {}
        for _, secret in collection:
            found.setdefault(secret.line_number, []).append(secret.secret_value or "")

    secret_lines = caught = flagged_secret_lines = benign_lines = benign_flagged = 0
    for number, entry in enumerate(entries, start=1):
        values = found.get(number, [])
        if entry["label"] == "secret":
            secret_lines += 1
            flagged_secret_lines += bool(values)
            caught += all(any(s in v for v in values) for s in entry["secrets"])
        else:
            benign_lines += 1
            benign_flagged += bool(values)

    def pct(part: int, whole: int) -> float:
        return 100.0 * part / whole if whole else 100.0

    print(json.dumps({
        "available": True,
        "version": VERSION,
        "lines": len(entries),
        "secret_lines": secret_lines,
        "caught": caught,
        "recall": pct(caught, secret_lines),
        "flagged_recall": pct(flagged_secret_lines, secret_lines),
        "benign_lines": benign_lines,
        "benign_changed": benign_flagged,
        "benign_changed_percent": pct(benign_flagged, benign_lines),
        "seconds": seconds,
        "lines_per_s": len(entries) / seconds if seconds > 0 else 0.0,
    }))
    return 0


if __name__ == "__main__":
    sys.exit(main())
