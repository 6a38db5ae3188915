"""The carrier adapter for Jasper (Cisco IoT Control Center).

``client`` (:class:`~carrier_opt.jasper.client.JasperClient`, polite and retrying), ``payloads``
(the parsed records), ``fake`` (a local fake server for tests and demos) and ``cli`` (the
``fake-jasper`` command).
"""
