"""The back office: staff web pages (Jinja2 templates in templates/backoffice,
plain CSS), served by the API under /backoffice/ and calling the same
repositories and services as the JSON routes. One module per domain."""
