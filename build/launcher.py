"""Entry script for the PyInstaller bundle: the same ``main()`` as the ``caseload`` command.

PyInstaller needs a script file, not a console-script entry point; a script
inside the ``desktop`` package would put ``desktop/`` itself on the analysis
path, so this one lives outside it.
"""

from desktop.cli.main import main

raise SystemExit(main())
