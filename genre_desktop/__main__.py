from genre_desktop.cli import main

raise SystemExit(main())
