"""Names and helpers the benchmark scripts share."""

import secrets
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / "bench" / "data"
MIGRATIONS = ROOT / "migrations"

ADMIN_EMAIL = "bench-admin@example.com"
USER_EMAIL = "bench-user@example.com"
PASSWORD = "bench passphrase for loopback only"
FULL_RECORD_EMAIL = "full.record@example.com"
# The tag the "filter by one tag" case uses; build_db puts it on about 7 %.
FILTER_TAG = "VIP"


def on_path() -> None:
    """Make the project importable when a script runs as ``python bench/x.py``."""
    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))


def app_config(db_file: Path, **extra) -> dict:
    """Settings for a benchmark app over one SQLite file."""
    return {
        "DATABASE_URL": f"sqlite:///{Path(db_file).resolve()}",
        "SECRET_KEY": secrets.token_hex(32),
        **extra,
    }
