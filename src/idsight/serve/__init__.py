"""idsight.serve: web apps over idsight's stores.

``idsight.serve.review_app.create_app(store)`` is the review page (``idsight review serve``).
"""
