"""Response classes that name their media type, so the OpenAPI document says what a
non-JSON route answers (a zip, an event stream, a CSV) rather than claiming JSON."""

from __future__ import annotations

from fastapi.responses import FileResponse, PlainTextResponse, StreamingResponse

__all__ = ["CsvText", "EventStream", "ZipFile"]


class ZipFile(FileResponse):
    media_type = "application/zip"


class EventStream(StreamingResponse):
    media_type = "text/event-stream"


class CsvText(PlainTextResponse):
    media_type = "text/csv"
