#!/usr/bin/env python3
"""The course's two commands: `python3 course.py` (set up and open the course) and `python3 course.py test`.

This file only checks the Python version, with syntax every Python parses (Python 2 included), then runs
tools/course_main.py in this module's namespace: that file holds the commands and `python3 course.py help` prints
its documentation.
"""
import sys

if sys.version_info < (3, 11):
    sys.exit("gptedu needs Python 3.11 or newer (its pinned numpy has no older wheel); this is "
             + sys.version.split()[0] + ". Run it with a newer python3, e.g. `python3.11 course.py`.")

import os  # noqa: E402

_MAIN = os.path.join(os.path.dirname(os.path.abspath(__file__)), "tools", "course_main.py")
with open(_MAIN, encoding="utf-8") as _source:
    exec(compile(_source.read(), _MAIN, "exec"))  # noqa: S102  (our own file, next to this one)
