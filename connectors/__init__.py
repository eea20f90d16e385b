"""One client per external API, behind the ``CrmClient`` / ``ErpClient`` protocols."""
