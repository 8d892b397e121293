from idsight.cli.main import app

app(prog_name="idsight")
