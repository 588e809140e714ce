"""Benchmark: what a login costs, and that a wrong name costs what a wrong password costs.

Over HTTP (Flask test client, SQLite file in a temporary folder, demo data), measured side by
side in alternating rounds so both see the same machine load:

* ``POST /anmelden`` with a wrong password for an existing account,
* the same with a user name that does not exist (must take as long: no user enumeration),
* a successful login (argon2id verification, a new server-side session, the redirect),
* a page request with a live session (the session row looked up; ``last_seen`` written at
  most once a minute),
* argon2id (today's parameters) next to the scrypt hashes it replaces, bare.

The limiter is raised out of the way for the measurement (its own cost is in the figures).

Run:  .venv/bin/python benchmarks/bench_login.py [--rounds 40]
"""

from __future__ import annotations

import argparse
import base64
import dataclasses
import hashlib
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from engine import accounts  # noqa: E402
from engine.demo import load_demo  # noqa: E402
from engine.settings import load_settings  # noqa: E402
from web import create_app  # noqa: E402

PASSWORD = "bench-passwort"


def _ms(samples: list[float]) -> str:
    ordered = sorted(samples)
    p95 = ordered[max(0, int(len(ordered) * 0.95) - 1)]
    return (f"median {statistics.median(samples) * 1000:7.1f} ms   p95 {p95 * 1000:7.1f} ms   "
            f"min {ordered[0] * 1000:7.1f} ms")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=40)
    rounds = parser.parse_args().rounds
    folder = Path(tempfile.mkdtemp(prefix="bench-login-"))
    settings = load_settings(env={}, instance_path=folder, scheduler_in_process=False,
                             secret_key="bench", database_url=f"sqlite:///{folder / 'db.sqlite'}")
    settings = dataclasses.replace(settings, login_failures=100_000)
    app = create_app(settings, upgrade=True)  # a fresh database: migrate it here
    with app.extensions["ratsflow.db"].unit_of_work() as s:
        load_demo(s, PASSWORD, week=False)
    client = app.test_client()
    client.get("/anmelden").close()
    with client.session_transaction() as sess:
        token = sess["csrf"]

    def post(username: str, password: str, expected: int) -> Callable[[], None]:
        def run() -> None:
            response = client.post("/anmelden", data={"username": username, "password": password,
                                                      "csrf_token": token})
            assert response.status_code == expected, response.status_code
            response.close()
        return run

    logged_in = app.test_client()
    logged_in.get("/anmelden").close()
    with logged_in.session_transaction() as sess:
        mine = sess["csrf"]
    logged_in.post("/anmelden", data={"username": "hoffmann", "password": PASSWORD,
                                      "csrf_token": mine}).close()

    def page() -> None:
        response = logged_in.get("/aufgaben/")
        assert response.status_code == 200
        response.close()

    fresh = app.test_client()
    fresh.get("/anmelden").close()

    def login_ok() -> None:
        """A new session each time (the CSRF token of the session before is read from the
        cookie, a few microseconds)."""
        with fresh.session_transaction() as sess:
            current = sess["csrf"]
        response = fresh.post("/anmelden", data={"username": "schmitz", "password": PASSWORD,
                                                 "csrf_token": current})
        assert response.status_code == 302, response.status_code
        response.close()

    salt = b"0123456789abcdef"
    digest = hashlib.scrypt(PASSWORD.encode(), salt=salt, n=2**14, r=8, p=1, dklen=32)
    scrypt_hash = f"scrypt$16384$8$1${base64.b64encode(salt).decode()}${base64.b64encode(digest).decode()}"
    argon_hash = accounts.hash_password(PASSWORD)
    cases: dict[str, Callable[[], None]] = {
        "wrong password (existing account)": post("hoffmann", "falsch", 401),
        "unknown user name": post("niemand-hier", "falsch", 401),
        "successful login": login_ok,
        "page with a live session": page,
        "bare argon2id verify": lambda: accounts.verify_password(argon_hash, PASSWORD) or None,
        "bare scrypt verify (before)": lambda: accounts.verify_password(scrypt_hash, PASSWORD) or None,
    }
    samples: dict[str, list[float]] = {name: [] for name in cases}
    for run in cases.values():  # warm-up
        run()
    for _ in range(rounds):
        for name, run in cases.items():
            start = time.perf_counter()
            run()
            samples[name].append(time.perf_counter() - start)
    print(f"login benchmark, SQLite, {rounds} rounds each (alternating)")
    for name, values in samples.items():
        print(f"  {name:36s} {_ms(values)}")
    wrong, unknown = (statistics.median(samples[k]) for k in ("wrong password (existing account)",
                                                              "unknown user name"))
    print(f"  unknown / wrong password (median): {unknown / wrong:.2f}  (1.00 = indistinguishable)")
    app.extensions["ratsflow.db"].dispose()


if __name__ == "__main__":
    main()
