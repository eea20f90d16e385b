"""Local servers shaped like Salesforce (CRM) and NetSuite (ERP), with fault injection.

They are real HTTP servers for demos and tests, not mocks: Syncline reaches them through
the same connectors and code paths it uses for the real systems.
"""
