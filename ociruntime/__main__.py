from ociruntime.cli.main import entry

entry()
