"""Hardware drivers: they know pins and buses, never calls.

Each part is a plain noun with properties and `when_*` callbacks (gpiozero style); a
board file (board/) picks which class drives which part. The `Sim*` classes are the
simulated board's parts, worked by the browser front panel.
"""
