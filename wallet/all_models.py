"""Every module that defines tables, imported so that `Base.metadata` knows them all.

Alembic's environment and the schema check import this. A new model module adds its
import here. It is the one wallet module that names `messaging` (messaging uses
wallet, never the reverse; only this registry needs to know every table).
"""

from messaging import models as messaging_models  # noqa: F401  conversations, outbox
from wallet import backoffice as backoffice  # web admin: hang-up requests
from wallet import customer_access as customer_access  # portal: passwords, links
from wallet import demo as demo  # the demo's batches and the rows they made
from wallet import hotspot_models as hotspot_models  # internet: routers, packages, vouchers
from wallet import locks as locks  # named locks: checks and writes as one step
from wallet import models  # noqa: F401
from wallet import payments as payments  # web admin: payment requests, bank accounts
from wallet import sign_in_throttle as sign_in_throttle  # staff and customers signing in
from wallet import site_secrets as site_secrets  # the web apps' key when none is set
from wallet import site_settings as site_settings  # web admin: runtime settings
from wallet import staff as staff  # web admin: staff, roles, audit log
from wallet import usage as usage  # internet: the routers' counters per subscription
from wallet import web_sessions as web_sessions  # staff and customers' signed-in sessions
from wallet.models import Base

__all__ = ["Base"]
