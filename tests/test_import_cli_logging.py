"""Errors the import handles are logged in one line; tracebacks only at debug."""

import logging

from crm.imports import engine

PAD = "".join(f"Pad{i},P,pad{i}@example.com\n" for i in range(400))


def _handled_tracebacks(caplog):
    return [
        (r.name, r.getMessage())
        for r in caplog.records
        if r.exc_info and r.levelno > logging.DEBUG
    ]


def test_clevercsv_failing_on_a_nul_byte_logs_one_line(runner, db, tmp_path, caplog):
    path = tmp_path / "late_nul.csv"
    path.write_bytes(
        ("first_name,last_name,email\n" + PAD + "N\x00l,X,n@x.org\n").encode()
    )
    caplog.set_level(logging.INFO)

    result = runner.invoke(args=["contacts", "import", str(path)])

    assert result.exit_code == 0, result.output
    assert result.stdout.strip().splitlines()[-1] == (
        "created 401, updated 0, skipped 0, failed 0"
    )
    assert "clevercsv could not detect the dialect: " in caplog.text
    assert _handled_tracebacks(caplog) == []
    assert "Traceback" not in result.output


def test_a_failed_batch_insert_logs_one_line(runner, db, tmp_path, monkeypatch, caplog):
    real = engine.Importer._insert_rows

    def insert_rows(self, rows):
        if any(r.fields.get("given_name") == "Bad" for r in rows):
            raise ValueError("refused by the database")
        return real(self, rows)

    monkeypatch.setattr(engine.Importer, "_insert_rows", insert_rows)
    path = tmp_path / "bad.csv"
    path.write_bytes(b"first_name,email\nAnn,a@example.com\nBad,b@example.com\n")
    caplog.set_level(logging.INFO)

    result = runner.invoke(args=["contacts", "import", str(path)])

    assert result.exit_code == 0, result.output
    assert "batch insert of 2 rows failed (refused by the database)" in caplog.text
    assert _handled_tracebacks(caplog) == []
    assert "Traceback" not in result.output
