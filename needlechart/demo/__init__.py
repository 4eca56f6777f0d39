"""The demo: two generated clinics to try needlechart with (`needlechart demo`, `make run`).

It sits on top of every other app and is imported by none. Its modules generate records in
memory, from one seeded random stream and a day (`clinics`, `patients`, `charts`, `outcomes`,
`portal`); `generate` records them through the services, which check them and audit them.
"""
