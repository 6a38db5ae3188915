"""Serving a recorded account back: the answers ``carrier-opt jasper check --record DIR`` saved
(redacted), over real HTTP, with the fake's authentication and request log.

A replay answers exactly the recorded calls — the echo, the search page, the SIM's details,
its cycle-to-date usage, its plan's usage page — and 404 for anything else, so a test can run
the doctor (or a client) against what a real account once answered.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from carrier_opt.errors import InputError
from carrier_opt.jasper.fake.endpoints import FakeApiError
from carrier_opt.jasper.fake.server import API_ROOT, FakeJasper


class ReplayJasper(FakeJasper):
    """A server answering from a recording folder (``manifest.json`` and one file per call)."""

    def __init__(self, folder: Path, **options: Any) -> None:
        super().__init__(devices=0, **options)
        manifest_file = Path(folder) / "manifest.json"
        try:
            manifest = json.loads(manifest_file.read_text())
            self.answers = {
                entry["path"]: json.loads((Path(folder) / entry["file"]).read_text())
                for entry in manifest["recorded"]
            }
        except (OSError, ValueError, KeyError, TypeError) as error:
            raise InputError(f"{manifest_file}: not a jasper check recording ({error})") from None

    def _answer(self, method, path, query, headers, body):
        try:
            if not path.startswith(API_ROOT):
                raise FakeApiError(404, None, f"No such resource: {path}")
            self._authenticate(headers.get("Authorization"))
            route = path.removeprefix(API_ROOT).strip("/")
            if method == "GET" and route in self.answers:
                return 200, {}, self.answers[route]
            if method == "GET" and route.startswith("echo/"):
                return 200, {}, {"context": route.removeprefix("echo/")}
            raise FakeApiError(404, "20000001", f"not in the recording: {method} /{route}")
        except FakeApiError as error:
            return error.status, error.headers, error.body()
