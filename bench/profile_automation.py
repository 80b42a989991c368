"""Where one worker's time goes while it drains e-mail steps (cProfile).

    python bench/profile_automation.py --steps 1000 \\
        --database-url postgresql+psycopg://postgres@127.0.0.1:5432/postgres

Builds a fresh database and the counting SMTP server as
``bench_automation.py`` does, makes ``--steps`` e-mail steps due and drains
them in this process with ``engine.drain`` under cProfile (or without it,
``--no-profile``). Prints the wall and CPU time per step, the SQL statements
per step (an executemany counts once) and the functions with the most
cumulative time.
"""

import argparse
import cProfile
import io
import pstats
import time
from collections import Counter

from common import on_path

on_path()


def run(
    url: str, steps: int, batch: int, top: int, sort: str, profiled=True, cpu=False
) -> None:
    from bench_automation import SmtpProcess, _database, _release, _seed
    from sqlalchemy import event

    from crm import create_app
    from crm.automation import engine
    from crm.extensions import db

    database_url, drop = _database(url)
    smtp = SmtpProcess().start()
    app = create_app(
        {
            "DATABASE_URL": database_url,
            "SECRET_KEY": "bench-automation",
            "MAIL_URL": smtp.url,
            "MAIL_FROM": "bench@example.com",
        }
    )
    try:
        with app.app_context():
            from flask_migrate import upgrade

            upgrade(revision="heads")
            step, rate = _seed(db, steps, "email", None)
            _release(db, step, rate)

            statements = Counter()

            def count(conn, cursor, statement, *args):
                statements[" ".join(statement.split())[:90]] += 1

            event.listen(db.engine, "before_cursor_execute", count)
            # With ``cpu`` the profile counts CPU time, not time spent waiting.
            profile = cProfile.Profile(time.process_time if cpu else time.perf_counter)
            wall, cpu = time.perf_counter(), time.process_time()
            if profiled:
                profile.enable()
            counts = engine.drain("profile-w0", batch=batch)
            profile.disable()
            wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
            db.session.remove()
            db.engine.dispose()
        received = len(smtp.keys())
        smtp = None
    finally:
        if smtp is not None:
            smtp.keys()
        drop()

    print(
        f"{url.split(':')[0]}: {steps} steps {counts}, received {received}; "
        f"{wall / steps * 1000:.2f} ms wall and {cpu / steps * 1000:.2f} ms CPU "
        f"a step, {statements.total() / steps:.1f} statements a step through SQLAlchemy"
        " (besides one sent mark a message on the driver's cursor)"
    )
    for statement, n in statements.most_common(top // 3):
        print(f"{n / steps:6.2f} a step  {statement}")
    if not profiled:
        return
    out = io.StringIO()
    pstats.Stats(profile, stream=out).sort_stats(sort).print_stats(top)
    print(out.getvalue())


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database-url", default="sqlite")
    parser.add_argument("--steps", type=int, default=1000)
    parser.add_argument("--batch", type=int, default=200)
    parser.add_argument("--top", type=int, default=45)
    parser.add_argument("--sort", default="cumulative")
    parser.add_argument(
        "--no-profile", action="store_true", help="time the drain without cProfile"
    )
    parser.add_argument(
        "--cpu", action="store_true", help="profile CPU time instead of wall time"
    )
    args = parser.parse_args()
    run(
        args.database_url,
        args.steps,
        args.batch,
        args.top,
        args.sort,
        profiled=not args.no_profile,
        cpu=args.cpu,
    )


if __name__ == "__main__":
    main()
