from pmtiqa.cli import main

raise SystemExit(main())
