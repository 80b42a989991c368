"""End-to-end import rate and memory of ``flask contacts import``.

    python bench/bench_import.py [--sizes 50000,100000,200000]

For each size: writes a Keap-style CSV (names from the same Faker pools as
build_db.py, 2 % of rows repeating an earlier row's e-mail so the duplicate
check has work to do), migrates a fresh SQLite file, then runs
``flask contacts import FILE`` in its own process and measures its wall time
and peak memory (RSS). Equal peaks for both sizes mean memory stays flat.
"""

import argparse
import csv
import random
import subprocess
import sys
import time
from pathlib import Path

from common import DATA, MIGRATIONS, ROOT, app_config, on_path

on_path()

HEADERS = [
    "First Name",
    "Last Name",
    "Company",
    "Job Title",
    "Email",
    "Phone 1",
    "Phone 1 Type",
    "Phone 2",
    "Phone 2 Type",
    "Street Address 1",
    "City",
    "Postal Code",
    "Country",
    "Contact Type",
    "Birthday",
    "Tags",
]
COUNTRY_NAMES = {
    "USA": "United States",
    "DEU": "Germany",
    "FRA": "France",
    "GBR": "United Kingdom",
}
DUPLICATE_SHARE = 0.02


def write_csv(path: Path, rows: int, seed: int) -> None:
    """A Keap-style export of ``rows`` contacts."""
    import build_db

    rng = random.Random(seed)
    pools = build_db._pools(rng)
    tags = [name for name, _ in build_db.tag_plan()[:40]]
    emails = []
    with path.open("w", newline="", encoding="utf-8") as handle:
        out = csv.writer(handle)
        out.writerow(HEADERS)
        for n in range(rows):
            pool = rng.choice(pools)
            given, family = rng.choice(pool["given"]), rng.choice(pool["family"])
            if emails and rng.random() < DUPLICATE_SHARE:
                email = rng.choice(emails)
            else:
                local = build_db._ascii(given) or "c"
                email = f"{local}.{build_db._ascii(family) or 'x'}{n}@import.example"
                emails.append(email)
            mobile = rng.random() < 0.3
            out.writerow(
                [
                    given,
                    family,
                    rng.choice(pool["company"]) if rng.random() < 0.85 else "",
                    rng.choice(build_db.JOB_TITLES) if rng.random() < 0.5 else "",
                    email,
                    build_db._digits(pool["phone"], rng),
                    "Work",
                    build_db._digits(pool["phone"], rng) if mobile else "",
                    "Mobile" if mobile else "",
                    rng.choice(pool["street"]),
                    rng.choice(pool["city"]),
                    rng.choice(pool["postcode"]),
                    COUNTRY_NAMES.get(pool["country"], pool["country"]),
                    rng.choice(("Lead", "Customer", "Prospect")),
                    f"{rng.randint(1950, 2004)}-{rng.randint(1, 12):02}-"
                    f"{rng.randint(1, 28):02}",
                    ", ".join(rng.sample(tags, rng.randint(1, 4))),
                ]
            )


def fresh_database(path: Path) -> None:
    """A new SQLite file with every migration applied."""
    from flask_migrate import upgrade

    from crm import create_app
    from crm.extensions import db

    for suffix in ("", "-wal", "-shm"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)
    app = create_app(app_config(path))
    with app.app_context():
        upgrade(directory=str(MIGRATIONS), revision="heads")
        db.engine.dispose()


# Runs the command and reports its own children's peak RSS, so each import
# is measured alone.
_MEASURE = (
    "import resource, subprocess, sys\n"
    "code = subprocess.run(sys.argv[1:]).returncode\n"
    "usage = resource.getrusage(resource.RUSAGE_CHILDREN)\n"
    "cpu = usage.ru_utime + usage.ru_stime\n"
    "print(f'peak-kb {usage.ru_maxrss} cpu-s {cpu}', file=sys.stderr)\n"
    "sys.exit(code)\n"
)


def run_import(csv_path: Path, db_path: Path) -> dict:
    """Time ``flask contacts import`` on the file; return rate and peak RSS."""
    config = app_config(db_path)
    env = {
        "PATH": "/usr/bin:/bin",
        "CRM_DATABASE_URL": config["DATABASE_URL"],
        "CRM_SECRET_KEY": config["SECRET_KEY"],
        # 200,000 rows are about 40 MB, above the default 20 MB upload limit.
        "CRM_IMPORT_MAX_BYTES": str(256 * 1024 * 1024),
    }
    flask = Path(sys.executable).with_name("flask")
    command = [str(flask), "--app", "wsgi", "contacts", "import", str(csv_path)]
    started = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-c", _MEASURE, *command],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
    )
    elapsed = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(f"the import failed:\n{done.stdout}\n{done.stderr[-2000:]}")
    figures = done.stderr.rsplit("peak-kb ", 1)[1].split()
    summary = done.stdout.strip().splitlines()[-1]
    return {
        "seconds": elapsed,
        "cpu_seconds": float(figures[2]),
        "peak_mb": int(figures[0]) / 1024,
        "summary": summary,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="50000,100000")
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()

    DATA.mkdir(parents=True, exist_ok=True)
    results = []
    for size in (int(s) for s in args.sizes.split(",")):
        csv_path = DATA / f"import-{size}.csv"
        db_path = DATA / f"import-{size}.sqlite"
        if not csv_path.exists():
            write_csv(csv_path, size, args.seed)
        fresh_database(db_path)
        result = run_import(csv_path, db_path)
        results.append((size, result))
        print(
            f"{size:>7,} rows: {result['seconds']:6.1f} s = "
            f"{size / result['seconds']:>7,.0f} contacts/s end to end "
            f"(CPU {result['cpu_seconds']:.1f} s = "
            f"{size / result['cpu_seconds']:,.0f}/s), "
            f"peak RSS {result['peak_mb']:,.0f} MB  [{result['summary']}]",
            flush=True,
        )
    if len(results) > 1:
        (small, a), (large, b) = results[0], results[-1]
        print(
            f"peak RSS {a['peak_mb']:,.0f} MB at {small:,} rows, "
            f"{b['peak_mb']:,.0f} MB at {large:,} rows "
            f"({b['peak_mb'] / a['peak_mb']:.2f}x for {large / small:.1f}x the rows)"
        )


if __name__ == "__main__":
    main()
