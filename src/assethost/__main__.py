from assethost.cli.main import main

main()
