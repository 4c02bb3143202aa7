from rest_framework.pagination import CursorPagination


class PortalCursorPagination(CursorPagination):
    """Stable, opaque cursors: a client paging while rows change sees no gaps or repeats."""

    ordering = "-pk"
    page_size_query_param = "page_size"
    max_page_size = 500
