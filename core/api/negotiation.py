"""Content negotiation for endpoints that answer with a file or a stream."""

from rest_framework.negotiation import BaseContentNegotiation


class IgnoreClientNegotiation(BaseContentNegotiation):
    """A file endpoint's success is a FileResponse or stream (not rendered) and its errors JSON,
    whatever the client's Accept header asks for (an <img> sends image/*); and DRF must not read a
    `?format=` parameter (an export's) as the name of a renderer."""

    def select_parser(self, request, parsers):
        return parsers[0] if parsers else None

    def select_renderer(self, request, renderers, format_suffix=None):
        return renderers[0], renderers[0].media_type
