from rest_framework.pagination import CursorPagination


class NewestFirstCursorPagination(CursorPagination):
    """Cursor pagination: no COUNT(*), stable under inserts, constant cost at any depth.

    Ordered by `-created_at` with the primary key as tie-breaker; views may set `ordering`.
    """

    page_size = 50
    page_size_query_param = "page_size"
    max_page_size = 200
    ordering = ("-created_at", "-pk")
