"""The two Ray Serve applications rayops runs, composed from the capabilities below.

* :mod:`rayops.apps.gateway` — ``rayops``: every endpoint's HTTP API (serving) and
  the web dashboard (analytics) on one route prefix ``/``.
* :mod:`rayops.apps.controller` — ``rayops-controller``: the control loop as a
  one-replica deployment with no route.

They sit at the top of the layers (see the README's architecture section): they
are where serving, analytics and the control loop are put together, so none of
those packages needs to import another from a higher layer. Importing this
package imports Ray Serve.
"""
