"""The REST API's routers, one module per area; `service.api` mounts them."""
