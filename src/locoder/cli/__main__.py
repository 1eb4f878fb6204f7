from locoder.cli import main

raise SystemExit(main())
