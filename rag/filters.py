"""Metadata filters for search: document ids and a publication date range."""

from __future__ import annotations

import re

from pydantic import BaseModel, ConfigDict, Field

from rag.models import Document

DATE_HELP = "dates are ISO: YYYY, YYYY-MM or YYYY-MM-DD"
_DATE = re.compile(r"^[0-9]{4}(-[0-9]{2}(-[0-9]{2})?)?$")


class Filters(BaseModel):
    """Restricts a search. Dates are ISO prefixes (``2020``, ``2020-01``, ``2020-01-15``), bounds inclusive;
    a document without a publication date never matches a date bound."""

    model_config = ConfigDict(extra="forbid")

    document_ids: list[str] | None = Field(None, max_length=1000)
    published_after: str | None = Field(None, pattern=_DATE.pattern, description=DATE_HELP)
    published_before: str | None = Field(None, pattern=_DATE.pattern, description=DATE_HELP)

    def is_empty(self) -> bool:
        """Whether no restriction is set."""
        return self.document_ids is None and self.published_after is None and self.published_before is None

    def accepts(self, doc: Document) -> bool:
        """Whether ``doc`` passes every restriction."""
        if self.document_ids is not None and doc.id not in self.document_ids:
            return False
        if self.published_after is None and self.published_before is None:
            return True
        published = str(doc.metadata.get("published_at") or "")
        if not published:
            return False
        # Compare on the shorter precision: "2020-01" is within [2020-01-15, ...] for a month-level date.
        if self.published_after and published[: len(self.published_after)] < self.published_after[: len(published)]:
            return False
        return not (
            self.published_before and published[: len(self.published_before)] > self.published_before[: len(published)]
        )
