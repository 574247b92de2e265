"""The command line: commands, the program entry, output formats, the log viewer, the launchd renderer."""
