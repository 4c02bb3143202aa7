"""Everything `make run` adds for a demonstration, never used in production: the demo data (a
module per app, ``demo.customers`` to ``demo.integrations``, loaded in order by ``demo.data``)
and the Microsoft API simulators served for it. It sits on top of the other apps and may import
any of them; none imports it."""
