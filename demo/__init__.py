"""Everything `make run` adds for a demonstration, never used in production: the demo data
(each app's demo module, loaded in order by ``demo.data``) and the Microsoft API simulators served
for it. It sits on top of the other apps and may import any of them; none imports it."""
