"""MikroTik hotspot: router driver, packages, vouchers, reconciler, expiry.

Only :mod:`hotspot.driver` talks to RouterOS; everything else in this package goes
through its :class:`~hotspot.driver.RouterDriver`. Nothing is imported or connected
here, so importing the package costs nothing and opens no sockets.
"""
