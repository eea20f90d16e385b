"""A real Tryton ERP for the dev stack and the tests, set up from nothing.

Unlike the NetSuite and Salesforce sandboxes, which imitate a vendor's API,
this package runs the genuine open-source ERP (trytond 8.2) and only prepares
it: ``bootstrap`` creates and fills a database without a terminal (company in
USD, chart of accounts, fiscal years, the demo catalog, a least-privilege
``syncline`` user with a REST application key), caches the result, and gives
the command that serves it; ``accountant`` is the JSON-RPC client a person at
the Tryton desk would be, for posting and paying invoices in tests and demos.
"""
