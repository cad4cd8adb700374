"""What the two Flask apps (webadmin for staff, portal for customers) share and neither may
import from the other: the base of their forms, safe redirects, why a form was refused by
the CSRF check. Their texts are in both apps' catalogues (each app's `pybabel extract`
includes this folder)."""
