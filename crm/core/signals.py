"""Signals one domain sends and another hears, so neither imports the other."""

from blinker import Namespace

_signals = Namespace()

#: Sent when a web visitor turns out to be a known contact (a form submitted,
#: a purchase made, a tracked e-mail link followed). Arguments: ``contact``
#: and ``visitor_id`` (the first-party visitor id the tracking code set).
visitor_identified = _signals.signal("visitor-identified")
