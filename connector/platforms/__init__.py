"""Platforms: the API described for machines (OpenAPI 3.1, Swagger 2.0 for Power
Automate, a reference page at `/docs`), generated from the routes and the catalog.

Above `api` (it reads the operations the views were described with), below the app
factory, which registers its blueprint. Nothing here changes what the API does."""
