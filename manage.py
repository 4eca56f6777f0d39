#!/usr/bin/env python
"""Django's conventional entry point; the same as the `needlechart` command."""

from needlechart.cli import main

if __name__ == "__main__":
    main()
