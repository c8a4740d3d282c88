from facebridge.cli import app

app()
