"""Streaming CSV downloads, safe to open in a spreadsheet."""

import csv

from django.http import StreamingHttpResponse


class Echo:
    """A file-like object whose write returns the line, for streaming CSV."""

    def write(self, value):
        return value


def csv_safe(value):
    # Spreadsheet programs run cells that start with these as formulas.
    text = "" if value is None else str(value)
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


def csv_response(filename, rows):
    """Stream ``rows`` (the first is the header) as a CSV attachment."""
    writer = csv.writer(Echo())
    response = StreamingHttpResponse(
        (writer.writerow([csv_safe(cell) for cell in row]) for row in rows),
        content_type="text/csv; charset=utf-8",
    )
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response
