# main.py: frozen entry point; everything else lives in the application image.
import app

app.main()
