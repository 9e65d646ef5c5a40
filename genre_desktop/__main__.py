from genre_desktop.cli import entry

entry()
