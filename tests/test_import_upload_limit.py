"""An upload over the request limit names the import limit on the import screen."""

from io import BytesIO


def test_the_413_page_of_the_import_upload_names_the_import_limit(
    app, web, login_as, db
):
    app.config["IMPORT_MAX_BYTES"] = 20 * 1024
    app.config["MAX_CONTENT_LENGTH"] = 101 * 1024
    login_as("user")
    data = b"email,first_name\n" + b"jane@example.com,Jane\n" * 6000

    response = web.post(
        "/admin/imports/upload",
        {"file": (BytesIO(data), "big.csv")},
        content_type="multipart/form-data",
    )

    assert response.status_code == 413
    page = response.get_data(as_text=True)
    assert "That upload is larger than the limit of 20 KB." in page
    assert "101" not in page
