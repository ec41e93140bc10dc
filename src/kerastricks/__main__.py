from kerastricks.cli import run

run()
